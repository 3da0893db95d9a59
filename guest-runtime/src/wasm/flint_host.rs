//! Flint's imports in the guest: logs go out as log records, the key-value store is a host
//! function call each (`kv_get`, `kv_set`, `kv_delete`, registered by the host's runtime).

use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use flint_abi::message::{LogLevel, Value};
use flint_wasi::FlintHost;

use crate::host;

/// Sends `flint.*` imports to the host through the doorbell.
pub struct DoorbellHost;

impl FlintHost for DoorbellHost {
    fn log(&mut self, l: u32, message: &str) {
        host::log(LogLevel::from_index(l), message, "wasm", 0);
    }

    fn kv_get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, String> {
        // The host answers with a presence byte (0 absent, 1 present) before the value.
        match host::call("kv_get", vec![Value::Bytes(key.to_vec())]) {
            Ok(Value::Bytes(b)) => match b.split_first() {
                Some((1, value)) => Ok(Some(value.to_vec())),
                Some((0, _)) => Ok(None),
                _ => Err("malformed kv_get answer".to_string()),
            },
            Ok(_) => Err("malformed kv_get answer".to_string()),
            Err(e) => Err(e.message),
        }
    }

    fn kv_set(&mut self, key: &[u8], value: &[u8]) -> Result<(), String> {
        let args = vec![Value::Bytes(key.to_vec()), Value::Bytes(value.to_vec())];
        host::call("kv_set", args)
            .map(|_| ())
            .map_err(|e| e.message)
    }

    fn kv_delete(&mut self, key: &[u8]) -> Result<bool, String> {
        match host::call("kv_delete", vec![Value::Bytes(key.to_vec())]) {
            Ok(Value::Bool(existed)) => Ok(existed),
            Ok(_) => Err("malformed kv_delete answer".to_string()),
            Err(e) => Err(e.message),
        }
    }
}
