//! The host side of Flint's `flint.kv_*` imports, registered under their declarations in
//! [`flint_abi::host_fn`] (names and types come from there, nowhere else). `kv_get` answers a
//! presence byte (0 or 1) then the value. Each function has its own [`KvStore`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use flint_abi::host_fn::{KV_DELETE, KV_GET, KV_SET};
use flint_vmm::{HostFunctionError, HostFunctions, Value};

/// A function's key-value store.
pub trait KvStore: Send + Sync {
    /// The value under `key`.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, String>;
    /// Stores `value` under `key`.
    fn set(&self, key: &[u8], value: &[u8]) -> Result<(), String>;
    /// Deletes `key`; whether it existed.
    fn delete(&self, key: &[u8]) -> Result<bool, String>;
}

/// A [`KvStore`] in process memory.
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
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, String> {
        Ok(self.map().get(key).cloned())
    }
    fn set(&self, key: &[u8], value: &[u8]) -> Result<(), String> {
        self.map().insert(key.to_vec(), value.to_vec());
        Ok(())
    }
    fn delete(&self, key: &[u8]) -> Result<bool, String> {
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

/// The host functions of a function whose store is `kv`.
pub fn host_functions(kv: Arc<dyn KvStore>) -> HostFunctions {
    let (get, set, delete) = (kv.clone(), kv.clone(), kv);
    HostFunctions::builder()
        .declare(&KV_GET, move |a| {
            let found = get.get(bytes(&a[0])).map_err(HostFunctionError)?;
            let mut out = Vec::with_capacity(1 + found.as_ref().map_or(0, Vec::len));
            match found {
                Some(v) => {
                    out.push(1);
                    out.extend_from_slice(&v);
                }
                None => out.push(0),
            }
            Ok(Value::Bytes(out))
        })
        .declare(&KV_SET, move |a| {
            set.set(bytes(&a[0]), bytes(&a[1]))
                .map_err(HostFunctionError)?;
            Ok(Value::Void)
        })
        .declare(&KV_DELETE, move |a| {
            Ok(Value::Bool(
                delete.delete(bytes(&a[0])).map_err(HostFunctionError)?,
            ))
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
}
