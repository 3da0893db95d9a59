//! Flint's own imports (module `flint`), each declared once: the WebAssembly import a module
//! sees, the doorbell call the guest runtime makes for it (if any), and its documentation.
//!
//! Everything else is derived from these declarations: the import table the host validates
//! modules against and the guest links (`flint-wasi`), the guest runtime's calls
//! (`guest-runtime/src/wasm/flint_host.rs`), the host's registrations (`flint-runtime`'s
//! `host` module, through `HostFunctionsBuilder::declare`), and the table in
//! `docs/ARCHITECTURE.md` ([`docs_table`]). Tests on each side fail if it disagrees.
//!
//! Adding a host function: declare it here and add it to [`HOST_FUNCTIONS`], implement its
//! import in `flint-wasi` (`flint.rs`) and, if it calls the host, its host side in
//! `flint-runtime` (`host.rs`); then regenerate the docs table (the failing test prints it).

use alloc::format;
use alloc::string::String;

use crate::message::{Value, ValueType};

/// The import module of Flint's own functions.
pub const FLINT_MODULE: &str = "flint";

/// A WebAssembly value type in an import signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WasmType {
    /// `i32`.
    I32,
    /// `i64`.
    I64,
}

impl WasmType {
    /// The type's name in the text format.
    pub fn as_str(self) -> &'static str {
        match self {
            WasmType::I32 => "i32",
            WasmType::I64 => "i64",
        }
    }
}

/// A function a module may import.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WasmImport {
    /// Import module name.
    pub module: &'static str,
    /// Field name.
    pub name: &'static str,
    /// Parameter types.
    pub params: &'static [WasmType],
    /// Result types.
    pub results: &'static [WasmType],
}

/// The doorbell call the guest runtime makes to the host for an import.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostCall {
    /// The host function's name.
    pub name: &'static str,
    /// Its parameter types.
    pub params: &'static [ValueType],
    /// Its return type.
    pub returns: ValueType,
}

impl HostCall {
    /// Whether `args` have this call's parameter types.
    pub fn accepts(&self, args: &[Value]) -> bool {
        args.len() == self.params.len()
            && args
                .iter()
                .zip(self.params)
                .all(|(a, t)| a.value_type() == *t)
    }
}

/// One of Flint's imports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostFunction {
    /// What the module imports.
    pub import: WasmImport,
    /// The host call behind it; `None` where the guest runtime answers alone (`log` goes out
    /// as a log record, not a call).
    pub call: Option<HostCall>,
    /// What it does and returns (Markdown, one line).
    pub doc: &'static str,
}

const fn flint(
    name: &'static str,
    params: &'static [WasmType],
    results: &'static [WasmType],
) -> WasmImport {
    WasmImport {
        module: FLINT_MODULE,
        name,
        params,
        results,
    }
}

use WasmType::I32;

/// Longest key the key-value imports accept (checked by the guest and again by the host).
pub const MAX_KV_KEY_BYTES: u32 = 1024;
/// Largest value the key-value imports accept (checked by the guest and again by the host).
pub const MAX_KV_VALUE_BYTES: u32 = 1 << 20;
/// What `kv_get` returns for an absent key.
pub const KV_ABSENT: i32 = -1;

/// Why a key-value import failed: the negative codes a module sees, documented with each
/// import. None of them fails the invocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KvError {
    /// The store could not be reached or failed (`-2`).
    Store,
    /// The key or value is over [`MAX_KV_KEY_BYTES`] / [`MAX_KV_VALUE_BYTES`] (`-3`).
    TooLarge,
    /// The write would take the function over its key or byte quota (`-4`).
    QuotaExceeded,
}

impl KvError {
    /// Every error.
    pub const ALL: [KvError; 3] = [Self::Store, Self::TooLarge, Self::QuotaExceeded];

    /// The code a module sees.
    pub fn code(self) -> i32 {
        match self {
            Self::Store => -2,
            Self::TooLarge => -3,
            Self::QuotaExceeded => -4,
        }
    }

    /// The error with code `code`.
    pub fn from_code(code: i32) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.code() == code)
    }

    /// Its metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Store => "store_error",
            Self::TooLarge => "too_large",
            Self::QuotaExceeded => "quota_exceeded",
        }
    }
}

/// The first byte of a `kv_get` answer: 0 absent, 1 present (the value follows), or
/// `0x80 | -code` for a [`KvError`].
pub fn kv_get_status(found: Result<bool, KvError>) -> u8 {
    match found {
        Ok(false) => 0,
        Ok(true) => 1,
        Err(e) => 0x80 | (-e.code()) as u8,
    }
}

/// The meaning of a `kv_get` answer's first byte; `None` for one no host sends.
pub fn kv_get_meaning(status: u8) -> Option<Result<bool, KvError>> {
    match status {
        0 => Some(Ok(false)),
        1 => Some(Ok(true)),
        s if s & 0x80 != 0 => KvError::from_code(-i32::from(s & 0x7f)).map(Err),
        _ => None,
    }
}

/// `flint.log(level, ptr, len)`.
pub const LOG: HostFunction = HostFunction {
    import: flint("log", &[I32, I32, I32], &[]),
    call: None,
    doc: "`(level, ptr, len)`: one log line (level 0 trace ... 4 error) into the function's logs",
};

/// `flint.kv_get(key_ptr, key_len, buf_ptr, buf_len) -> i32`.
pub const KV_GET: HostFunction = HostFunction {
    import: flint("kv_get", &[I32, I32, I32, I32], &[I32]),
    call: Some(HostCall {
        name: "kv_get",
        params: &[ValueType::Bytes],
        // A status byte (see `kv_get_status`), then the value.
        returns: ValueType::Bytes,
    }),
    doc: "`(key_ptr, key_len, buf_ptr, buf_len)`: reads the value of a key into `buf`, at most \
          `buf_len` bytes; returns the value's full length, `-1` if absent, `-2` on a store \
          error, `-3` if the key is too large",
};

/// `flint.kv_set(key_ptr, key_len, val_ptr, val_len) -> i32`.
pub const KV_SET: HostFunction = HostFunction {
    import: flint("kv_set", &[I32, I32, I32, I32], &[I32]),
    call: Some(HostCall {
        name: "kv_set",
        params: &[ValueType::Bytes, ValueType::Bytes],
        // 0, or a `KvError` code.
        returns: ValueType::I32,
    }),
    doc: "`(key_ptr, key_len, val_ptr, val_len)`: stores a value; returns `0`, `-2` on a store \
          error, `-3` if key (1 KiB) or value (1 MiB) is too large, `-4` if the function's key \
          or byte quota would be exceeded",
};

/// `flint.kv_delete(key_ptr, key_len) -> i32`.
pub const KV_DELETE: HostFunction = HostFunction {
    import: flint("kv_delete", &[I32, I32], &[I32]),
    call: Some(HostCall {
        name: "kv_delete",
        params: &[ValueType::Bytes],
        // 1 existed, 0 did not, or a `KvError` code.
        returns: ValueType::I32,
    }),
    doc: "`(key_ptr, key_len)`: deletes a key; returns `1` if it existed, `0` if not, `-2` on a \
          store error, `-3` if the key is too large",
};

/// Why an outbound HTTP request failed: the negative codes `http_request` returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HttpError {
    /// The URL's host is not in the function's `allowed_outbound_hosts` (`-1`).
    NotAllowed,
    /// The request is malformed: head, method, URL or a header (`-2`).
    BadRequest,
    /// The connection or the exchange failed (`-3`).
    Failed,
    /// No answer within the request's timeout or the call's deadline (`-4`).
    Timeout,
    /// The response is larger than the limit (`-5`).
    TooLarge,
}

impl HttpError {
    /// Every error.
    pub const ALL: [HttpError; 5] = [
        Self::NotAllowed,
        Self::BadRequest,
        Self::Failed,
        Self::Timeout,
        Self::TooLarge,
    ];

    /// The code a module sees.
    pub fn code(self) -> i32 {
        match self {
            Self::NotAllowed => -1,
            Self::BadRequest => -2,
            Self::Failed => -3,
            Self::Timeout => -4,
            Self::TooLarge => -5,
        }
    }

    /// The error with code `code`.
    pub fn from_code(code: i32) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.code() == code)
    }

    /// Its metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotAllowed => "not_allowed",
            Self::BadRequest => "bad_request",
            Self::Failed => "failed",
            Self::Timeout => "timeout",
            Self::TooLarge => "too_large",
        }
    }
}

/// The host's answer to an `http_request` call: a little-endian `i32` (0, or an
/// [`HttpError`] code), then the response (`STATUS\r\nName: value\r\n...\r\n\r\nbody`).
pub fn http_answer(result: Result<&[u8], HttpError>) -> alloc::vec::Vec<u8> {
    let (code, response) = match result {
        Ok(r) => (0, r),
        Err(e) => (e.code(), &[][..]),
    };
    let mut out = alloc::vec::Vec::with_capacity(4 + response.len());
    out.extend_from_slice(&code.to_le_bytes());
    out.extend_from_slice(response);
    out
}

/// What an `http_request` answer means; `None` for one no host sends.
pub fn http_meaning(answer: &[u8]) -> Option<Result<&[u8], HttpError>> {
    let (code, response) = answer.split_at_checked(4)?;
    match i32::from_le_bytes(code.try_into().ok()?) {
        0 => Some(Ok(response)),
        c => HttpError::from_code(c).map(Err),
    }
}

/// `flint.http_request(req_ptr, req_len, resp_ptr, resp_cap) -> i32`.
pub const HTTP_REQUEST: HostFunction = HostFunction {
    import: flint("http_request", &[I32, I32, I32, I32], &[I32]),
    call: Some(HostCall {
        name: "http_request",
        params: &[ValueType::Bytes],
        // See `http_answer`.
        returns: ValueType::Bytes,
    }),
    doc: "`(req_ptr, req_len, resp_ptr, resp_cap)`: sends the HTTP request `METHOD URL\\r\\n` \
          `headers\\r\\n\\r\\nbody` to an allowed host and writes the response \
          (`STATUS\\r\\nheaders\\r\\n\\r\\nbody`) into `resp`, at most `resp_cap` bytes; \
          returns the response's full length, `-1` host not allowed, `-2` malformed request, \
          `-3` failed, `-4` timed out, `-5` response too large",
};

/// Every one of Flint's imports.
pub const HOST_FUNCTIONS: &[HostFunction] = &[LOG, KV_GET, KV_SET, KV_DELETE, HTTP_REQUEST];

fn types<T: Copy>(ts: &[T], name: impl Fn(T) -> String) -> String {
    let names: alloc::vec::Vec<String> = ts.iter().map(|&t| name(t)).collect();
    names.join(", ")
}

/// The Markdown table of [`HOST_FUNCTIONS`], as `docs/ARCHITECTURE.md` shows it.
pub fn docs_table() -> String {
    let mut out = String::from("| import | signature | host call | meaning |\n|---|---|---|---|\n");
    for f in HOST_FUNCTIONS {
        let i = &f.import;
        let results = match i.results {
            [] => String::new(),
            r => format!(" -> {}", types(r, |t| String::from(t.as_str()))),
        };
        let call = match &f.call {
            Some(c) => format!(
                "`{}({}) -> {:?}`",
                c.name,
                types(c.params, |t| format!("{t:?}")),
                c.returns
            ),
            None => String::from("-"),
        };
        out += &format!(
            "| `{}.{}` | `({}){}` | {} | {} |\n",
            i.module,
            i.name,
            types(i.params, |t| String::from(t.as_str())),
            results,
            call,
            f.doc
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kv_codes_round_trip() {
        for e in KvError::ALL {
            assert_eq!(KvError::from_code(e.code()), Some(e));
            assert_eq!(kv_get_meaning(kv_get_status(Err(e))), Some(Err(e)));
        }
        for found in [true, false] {
            assert_eq!(kv_get_meaning(kv_get_status(Ok(found))), Some(Ok(found)));
        }
        assert_eq!(kv_get_meaning(2), None);
        assert_eq!(kv_get_meaning(0x81), None);
        assert_eq!(KV_ABSENT, -1);
    }

    #[test]
    fn http_answers_round_trip() {
        assert_eq!(
            http_meaning(&http_answer(Ok(b"200\r\n\r\nhi"))),
            Some(Ok(&b"200\r\n\r\nhi"[..]))
        );
        for e in HttpError::ALL {
            assert_eq!(HttpError::from_code(e.code()), Some(e));
            assert_eq!(http_meaning(&http_answer(Err(e))), Some(Err(e)));
        }
        assert_eq!(http_meaning(&[1, 2]), None);
        assert_eq!(http_meaning(&(-9i32).to_le_bytes()), None);
    }

    #[test]
    fn names_are_unique_and_calls_typed() {
        for (n, a) in HOST_FUNCTIONS.iter().enumerate() {
            for b in &HOST_FUNCTIONS[n + 1..] {
                assert_ne!(a.import.name, b.import.name);
            }
        }
        let call = KV_SET.call.unwrap();
        assert!(call.accepts(&[Value::Bytes(alloc::vec![1]), Value::Bytes(alloc::vec![])]));
        assert!(!call.accepts(&[Value::Bytes(alloc::vec![1])]));
        assert!(docs_table().contains("| `flint.kv_get` | `(i32, i32, i32, i32) -> i32` |"));
    }

    /// `docs/ARCHITECTURE.md` shows exactly the table derived from the declarations.
    #[test]
    fn the_architecture_doc_shows_the_declared_table() {
        let doc = include_str!("../../../docs/ARCHITECTURE.md");
        let begin = "<!-- host-functions:begin -->\n";
        let end = "<!-- host-functions:end -->";
        let from = doc.find(begin).expect("begin marker") + begin.len();
        let to = doc.find(end).expect("end marker");
        assert!(
            doc[from..to] == docs_table(),
            "update the table in docs/ARCHITECTURE.md to:\n{}",
            docs_table()
        );
    }
}
