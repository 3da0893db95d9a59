//! `wasi:http/types.fields`: header and trailer lists. A list lives in the run's arena; a
//! `fields` handle either owns it (dropping the handle frees it) or is a view of a list owned
//! by a request or response (`headers()`), which the owner frees.

use alloc::string::String;
use alloc::vec::Vec;

use wasmtime::component::Resource;

use super::Serving;
use super::wasi::http::types::{HeaderError, HostFields};

/// Headers that a component may not set (as wasmtime's `DEFAULT_FORBIDDEN_HEADERS`): they
/// belong to the connection, not to the message.
const FORBIDDEN: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "host",
    "http2-settings",
];

/// The most entries one list may hold.
const MAX_ENTRIES: usize = 1024;

/// A `fields` handle.
#[derive(Debug)]
pub struct Fields {
    pub(crate) id: u32,
    pub(crate) owner: bool,
}

/// Header lines, names lower case.
#[derive(Debug, Default, Clone)]
pub(crate) struct FieldList {
    pub(crate) entries: Vec<(String, Vec<u8>)>,
    pub(crate) immutable: bool,
}

impl FieldList {
    pub(crate) fn immutable(entries: Vec<(String, Vec<u8>)>) -> Self {
        Self {
            entries,
            immutable: true,
        }
    }

    /// The lines a CGI head may carry: names of letters, digits and `-`, values of visible
    /// text (the host drops the headers a function may not send).
    pub(crate) fn write_cgi(&self, out: &mut Vec<u8>) {
        for (name, value) in &self.entries {
            let name_ok = name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
            let value_ok =
                core::str::from_utf8(value).is_ok_and(|v| !v.chars().any(char::is_control));
            if name_ok && value_ok {
                out.extend_from_slice(name.as_bytes());
                out.extend_from_slice(b": ");
                out.extend_from_slice(value);
                out.extend_from_slice(b"\r\n");
            }
        }
    }

    pub(crate) fn values(&self, name: &str) -> Vec<Vec<u8>> {
        let name = name.to_ascii_lowercase();
        self.entries
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
            .collect()
    }
}

/// A valid field name: an RFC 9110 token.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// A valid field value: no CR, LF or NUL, no surrounding whitespace to speak of.
fn valid_value(value: &[u8]) -> bool {
    value.iter().all(|&b| b != b'\r' && b != b'\n' && b != 0)
}

/// Checks `name` and `value` for a mutable list; the lower-case name.
fn check(name: &str, value: Option<&[u8]>) -> Result<String, HeaderError> {
    if !valid_name(name) || value.is_some_and(|v| !valid_value(v)) {
        return Err(HeaderError::InvalidSyntax);
    }
    let name = name.to_ascii_lowercase();
    if FORBIDDEN.contains(&name.as_str()) {
        return Err(HeaderError::Forbidden);
    }
    Ok(name)
}

impl Serving<'_> {
    fn list(&mut self, fields: &Resource<Fields>) -> wasmtime::Result<&mut FieldList> {
        let id = self.http.table.get(fields)?.id;
        self.http.fields.get_mut(id)
    }

    /// `list` if it may change.
    fn mutable(
        &mut self,
        fields: &Resource<Fields>,
    ) -> wasmtime::Result<Result<&mut FieldList, HeaderError>> {
        let list = self.list(fields)?;
        Ok(if list.immutable {
            Err(HeaderError::Immutable)
        } else {
            Ok(list)
        })
    }

    /// A new handle owning `list`.
    pub(crate) fn own_fields(&mut self, list: FieldList) -> wasmtime::Result<Resource<Fields>> {
        let id = self.http.fields.insert(list);
        Ok(self.http.table.push(Fields { id, owner: true })?)
    }

    /// A view of list `id`, owned elsewhere.
    pub(crate) fn view_fields(&mut self, id: u32) -> wasmtime::Result<Resource<Fields>> {
        Ok(self.http.table.push(Fields { id, owner: false })?)
    }

    /// Takes the list of an owning handle (a request or response now owns it).
    pub(crate) fn take_fields(&mut self, fields: Resource<Fields>) -> wasmtime::Result<u32> {
        let f = self.http.table.delete(fields)?;
        if f.owner {
            Ok(f.id)
        } else {
            let copy = self.http.fields.get(f.id)?.clone();
            Ok(self.http.fields.insert(copy))
        }
    }
}

impl HostFields for Serving<'_> {
    fn new(&mut self) -> wasmtime::Result<Resource<Fields>> {
        self.own_fields(FieldList::default())
    }

    fn from_list(
        &mut self,
        entries: Vec<(String, Vec<u8>)>,
    ) -> wasmtime::Result<Result<Resource<Fields>, HeaderError>> {
        if entries.len() > MAX_ENTRIES {
            return Ok(Err(HeaderError::InvalidSyntax));
        }
        let mut list = FieldList::default();
        for (name, value) in entries {
            match check(&name, Some(&value)) {
                Ok(name) => list.entries.push((name, value)),
                Err(e) => return Ok(Err(e)),
            }
        }
        self.own_fields(list).map(Ok)
    }

    fn get(&mut self, fields: Resource<Fields>, name: String) -> wasmtime::Result<Vec<Vec<u8>>> {
        Ok(self.list(&fields)?.values(&name))
    }

    fn has(&mut self, fields: Resource<Fields>, name: String) -> wasmtime::Result<bool> {
        Ok(!self.list(&fields)?.values(&name).is_empty())
    }

    fn set(
        &mut self,
        fields: Resource<Fields>,
        name: String,
        values: Vec<Vec<u8>>,
    ) -> wasmtime::Result<Result<(), HeaderError>> {
        let name = match values
            .iter()
            .try_for_each(|v| check(&name, Some(v)).map(drop))
        {
            Ok(()) => match check(&name, None) {
                Ok(n) => n,
                Err(e) => return Ok(Err(e)),
            },
            Err(e) => return Ok(Err(e)),
        };
        let list = match self.mutable(&fields)? {
            Ok(l) => l,
            Err(e) => return Ok(Err(e)),
        };
        list.entries.retain(|(n, _)| *n != name);
        if list.entries.len() + values.len() > MAX_ENTRIES {
            return Ok(Err(HeaderError::InvalidSyntax));
        }
        list.entries
            .extend(values.into_iter().map(|v| (name.clone(), v)));
        Ok(Ok(()))
    }

    fn delete(
        &mut self,
        fields: Resource<Fields>,
        name: String,
    ) -> wasmtime::Result<Result<(), HeaderError>> {
        let name = match check(&name, None) {
            Ok(n) => n,
            Err(e) => return Ok(Err(e)),
        };
        Ok(self.mutable(&fields)?.map(|list| {
            list.entries.retain(|(n, _)| *n != name);
        }))
    }

    fn append(
        &mut self,
        fields: Resource<Fields>,
        name: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), HeaderError>> {
        let name = match check(&name, Some(&value)) {
            Ok(n) => n,
            Err(e) => return Ok(Err(e)),
        };
        Ok(self.mutable(&fields)?.and_then(|list| {
            if list.entries.len() >= MAX_ENTRIES {
                return Err(HeaderError::InvalidSyntax);
            }
            list.entries.push((name, value));
            Ok(())
        }))
    }

    fn entries(&mut self, fields: Resource<Fields>) -> wasmtime::Result<Vec<(String, Vec<u8>)>> {
        Ok(self.list(&fields)?.entries.clone())
    }

    fn clone(&mut self, fields: Resource<Fields>) -> wasmtime::Result<Resource<Fields>> {
        let mut copy = self.list(&fields)?.clone();
        copy.immutable = false;
        self.own_fields(copy)
    }

    fn drop(&mut self, fields: Resource<Fields>) -> wasmtime::Result<()> {
        let f = self.http.table.delete(fields)?;
        if f.owner {
            self.http.fields.remove(f.id);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_values_are_checked() {
        assert_eq!(check("X-Ok", Some(b"v")).unwrap(), "x-ok");
        assert!(matches!(
            check("bad name", None),
            Err(HeaderError::InvalidSyntax)
        ));
        assert!(matches!(
            check("x", Some(b"a\r\nb")),
            Err(HeaderError::InvalidSyntax)
        ));
        assert!(matches!(
            check("Connection", None),
            Err(HeaderError::Forbidden)
        ));
    }

    #[test]
    fn cgi_lines_leave_out_what_cgi_cannot_carry() {
        let list = FieldList::immutable(alloc::vec![
            ("content-type".into(), b"text/plain".to_vec()),
            ("x_under".into(), b"1".to_vec()),
            ("x-bin".into(), alloc::vec![0xff]),
        ]);
        let mut out = Vec::new();
        list.write_cgi(&mut out);
        assert_eq!(out, b"content-type: text/plain\r\n");
    }
}
