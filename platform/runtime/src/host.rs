//! The host side of Flint's `flint.kv_*` imports, registered under their declarations in
//! [`flint_abi::host_fn`] (names and types come from there, nowhere else). Each function has
//! its own [`KvStore`].
//!
//! The host checks key and value sizes itself (the guest's checks are the guest's), and a
//! store that fails or refuses answers the guest with a [`KvError`] code: a key-value
//! problem never fails the invocation.

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use flint_abi::host_fn::{
    HTTP_REQUEST, HttpError, KV_DELETE, KV_GET, KV_SET, KvError, MAX_KV_KEY_BYTES,
    MAX_KV_VALUE_BYTES, http_answer, kv_get_status,
};
use flint_vmm::{HostFunctions, Value};

/// A function's key-value store.
pub trait KvStore: Send + Sync {
    /// The value under `key`.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, KvError>;
    /// Stores `value` under `key`.
    fn set(&self, key: &[u8], value: &[u8]) -> Result<(), KvError>;
    /// Deletes `key`; whether it existed.
    fn delete(&self, key: &[u8]) -> Result<bool, KvError>;
    /// Told of every error a module is answered with (for metrics).
    fn refused(&self, _error: KvError) {}
}

/// A function's outbound HTTP: performs a request as the guest wrote it (see
/// [`flint_abi::host_fn::HTTP_REQUEST`]) and answers with the response, by `deadline` (the
/// call's, when the call has one).
pub trait Outbound: Send + Sync {
    /// The response to `request`, or why there is none.
    fn request(&self, request: &[u8], deadline: Option<Instant>) -> Result<Vec<u8>, HttpError>;
}

/// Outbound HTTP for a function allowed no hosts.
#[derive(Debug, Default)]
pub struct NoOutbound;

impl Outbound for NoOutbound {
    fn request(&self, _: &[u8], _: Option<Instant>) -> Result<Vec<u8>, HttpError> {
        Err(HttpError::NotAllowed)
    }
}

thread_local! {
    /// The deadline of the call running on this (vCPU) thread.
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// The deadline of the call running on this thread, if any.
pub fn call_deadline() -> Option<Instant> {
    DEADLINE.with(Cell::get)
}

/// Sets this thread's call deadline until dropped.
pub struct DeadlineGuard(Option<Instant>);

impl DeadlineGuard {
    /// Makes `deadline` the call deadline of this thread.
    pub fn set(deadline: Instant) -> Self {
        Self(DEADLINE.with(|d| d.replace(Some(deadline))))
    }
}

impl Drop for DeadlineGuard {
    fn drop(&mut self) {
        DEADLINE.with(|d| d.set(self.0));
    }
}

/// A [`KvStore`] in process memory, without quotas.
#[derive(Debug, Default)]
pub struct MemoryKvStore {
    map: Mutex<HashMap<Vec<u8>, Vec<u8>>>,
}

impl MemoryKvStore {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<Vec<u8>, Vec<u8>>> {
        flint_vmm::sync::lock(&self.map)
    }
}

impl KvStore for MemoryKvStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, KvError> {
        Ok(self.map().get(key).cloned())
    }
    fn set(&self, key: &[u8], value: &[u8]) -> Result<(), KvError> {
        self.map().insert(key.to_vec(), value.to_vec());
        Ok(())
    }
    fn delete(&self, key: &[u8]) -> Result<bool, KvError> {
        Ok(self.map().remove(key).is_some())
    }
}

fn bytes(v: &Value) -> &[u8] {
    match v {
        Value::Bytes(b) => b,
        // The registry checked the types before calling.
        _ => &[],
    }
}

/// `key` if it is within the size limit.
fn key_of(args: &[Value]) -> Result<&[u8], KvError> {
    let key = bytes(&args[0]);
    if key.len() > MAX_KV_KEY_BYTES as usize {
        return Err(KvError::TooLarge);
    }
    Ok(key)
}

/// The code of a finished `kv_set` / `kv_delete`, after telling `kv` of an error.
fn code(kv: &dyn KvStore, result: Result<i32, KvError>) -> Value {
    Value::I32(result.unwrap_or_else(|e| {
        kv.refused(e);
        e.code()
    }))
}

/// The host functions of a function whose store is `kv` and that may call no host.
pub fn host_functions(kv: Arc<dyn KvStore>) -> HostFunctions {
    host_functions_with(kv, Arc::new(NoOutbound))
}

/// The host functions of a function whose store is `kv` and whose HTTP goes to `http`.
pub fn host_functions_with(kv: Arc<dyn KvStore>, http: Arc<dyn Outbound>) -> HostFunctions {
    let (get, set, delete) = (kv.clone(), kv.clone(), kv);
    HostFunctions::builder()
        .declare(&HTTP_REQUEST, move |a| {
            let answer = http.request(bytes(&a[0]), call_deadline());
            Ok(Value::Bytes(http_answer(answer.as_deref().map_err(|e| *e))))
        })
        .declare(&KV_GET, move |a| {
            let found = key_of(a).and_then(|k| get.get(k));
            let (status, value) = match found {
                Ok(Some(v)) => (kv_get_status(Ok(true)), v),
                Ok(None) => (kv_get_status(Ok(false)), Vec::new()),
                Err(e) => {
                    get.refused(e);
                    (kv_get_status(Err(e)), Vec::new())
                }
            };
            let mut out = Vec::with_capacity(1 + value.len());
            out.push(status);
            out.extend_from_slice(&value);
            Ok(Value::Bytes(out))
        })
        .declare(&KV_SET, move |a| {
            let value = bytes(&a[1]);
            let result = key_of(a).and_then(|k| {
                if value.len() > MAX_KV_VALUE_BYTES as usize {
                    return Err(KvError::TooLarge);
                }
                set.set(k, value).map(|()| 0)
            });
            Ok(code(&*set, result))
        })
        .declare(&KV_DELETE, move |a| {
            let result = key_of(a).and_then(|k| delete.delete(k)).map(i32::from);
            Ok(code(&*delete, result))
        })
        .build()
}

#[cfg(test)]
mod tests {
    use flint_abi::host_fn::HOST_FUNCTIONS;

    use super::*;

    /// The host registers exactly the declared host calls, with their declared types.
    #[test]
    fn registrations_match_the_declarations() {
        let registered = host_functions(Arc::new(MemoryKvStore::default())).details();
        let mut got: Vec<(String, Vec<flint_vmm::ValueType>, flint_vmm::ValueType)> = registered
            .functions
            .into_iter()
            .map(|d| (d.name, d.params, d.ret))
            .collect();
        let mut want: Vec<_> = HOST_FUNCTIONS
            .iter()
            .filter_map(|f| f.call)
            .map(|c| (c.name.to_string(), c.params.to_vec(), c.returns))
            .collect();
        got.sort_by(|a, b| a.0.cmp(&b.0));
        want.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(got, want);
    }

    /// A store that is down, and counts what the module was told.
    #[derive(Default)]
    struct Down(Mutex<Vec<KvError>>);

    impl KvStore for Down {
        fn get(&self, _: &[u8]) -> Result<Option<Vec<u8>>, KvError> {
            Err(KvError::Store)
        }
        fn set(&self, _: &[u8], _: &[u8]) -> Result<(), KvError> {
            Err(KvError::Store)
        }
        fn delete(&self, _: &[u8]) -> Result<bool, KvError> {
            Err(KvError::Store)
        }
        fn refused(&self, e: KvError) {
            flint_vmm::sync::lock(&self.0).push(e);
        }
    }

    /// A store error or an oversized key or value is an answer to the module, never a failed
    /// call; sizes are checked by the host before the store sees them.
    #[test]
    fn store_errors_and_sizes_are_codes_for_the_guest() {
        let down = Arc::new(Down::default());
        let host = host_functions(down.clone());
        let key = || Value::Bytes(b"k".to_vec());
        let big = |n: u32| Value::Bytes(vec![0; n as usize + 1]);
        assert_eq!(host.call("kv_set", &[key(), key()]), Ok(Value::I32(-2)));
        assert_eq!(host.call("kv_delete", &[key()]), Ok(Value::I32(-2)));
        assert_eq!(host.call("kv_get", &[key()]), Ok(Value::Bytes(vec![0x82])));
        let ok = host_functions(Arc::new(MemoryKvStore::default()));
        let too_large = Ok(Value::I32(KvError::TooLarge.code()));
        assert_eq!(
            ok.call("kv_set", &[big(MAX_KV_KEY_BYTES), key()]),
            too_large
        );
        assert_eq!(
            ok.call("kv_set", &[key(), big(MAX_KV_VALUE_BYTES)]),
            too_large
        );
        assert_eq!(ok.call("kv_delete", &[big(MAX_KV_KEY_BYTES)]), too_large);
        assert_eq!(ok.call("kv_set", &[key(), key()]), Ok(Value::I32(0)));
        assert_eq!(
            ok.call("kv_get", &[key()]),
            Ok(Value::Bytes(b"\x01k".to_vec()))
        );
        assert_eq!(ok.call("kv_delete", &[key()]), Ok(Value::I32(1)));
        assert_eq!(flint_vmm::sync::lock(&down.0).len(), 3);
    }
}
