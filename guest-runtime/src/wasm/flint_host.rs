//! Flint's imports in the guest: logs go out as log records, the key-value store is one host
//! function call each. Names and types come from the declarations in
//! [`flint_abi::host_fn`], which the host's runtime registers from too.

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use flint_abi::host_fn::{
    HTTP_REQUEST, HostFunction, HttpError, KV_DELETE, KV_GET, KV_SET, KvError, http_meaning,
    kv_get_meaning,
};
use flint_abi::message::{LogLevel, Value};
use flint_wasi::FlintHost;

use crate::host;

/// Sends `flint.*` imports to the host through the doorbell.
pub struct DoorbellHost;

/// Makes the host call behind `f`, checking the answer's type against its declaration.
fn call(f: &HostFunction, args: Vec<Value>) -> Result<Value, String> {
    let Some(declared) = f.call else {
        return Err(format!("{} makes no host call", f.import.name));
    };
    let value = host::call(declared.name, args).map_err(|e| e.message)?;
    if value.value_type() != declared.returns {
        return Err(format!("malformed {} answer", declared.name));
    }
    Ok(value)
}

impl FlintHost for DoorbellHost {
    fn log(&mut self, l: u32, message: &str) {
        host::log(LogLevel::from_index(l), message, "wasm", 0);
    }

    fn kv_get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, KvError> {
        // The host answers with a status byte (see `kv_get_status`) before the value.
        match call(&KV_GET, vec![Value::Bytes(key.to_vec())]) {
            Ok(Value::Bytes(b)) => match b.split_first().map(|(s, v)| (kv_get_meaning(*s), v)) {
                Some((Some(Ok(true)), value)) => Ok(Some(value.to_vec())),
                Some((Some(Ok(false)), _)) => Ok(None),
                Some((Some(Err(e)), _)) => Err(e),
                _ => Err(KvError::Store),
            },
            _ => Err(KvError::Store),
        }
    }

    fn kv_set(&mut self, key: &[u8], value: &[u8]) -> Result<(), KvError> {
        let args = vec![Value::Bytes(key.to_vec()), Value::Bytes(value.to_vec())];
        match call(&KV_SET, args) {
            Ok(Value::I32(0)) => Ok(()),
            Ok(Value::I32(code)) => Err(KvError::from_code(code).unwrap_or(KvError::Store)),
            _ => Err(KvError::Store),
        }
    }

    fn http_request(&mut self, request: &[u8]) -> Result<Vec<u8>, HttpError> {
        // The host answers with a code before the response (see `http_answer`).
        match call(&HTTP_REQUEST, vec![Value::Bytes(request.to_vec())]) {
            Ok(Value::Bytes(b)) => match http_meaning(&b) {
                Some(r) => r.map(<[u8]>::to_vec),
                None => Err(HttpError::Failed),
            },
            _ => Err(HttpError::Failed),
        }
    }

    fn kv_delete(&mut self, key: &[u8]) -> Result<bool, KvError> {
        match call(&KV_DELETE, vec![Value::Bytes(key.to_vec())]) {
            Ok(Value::I32(existed @ (0 | 1))) => Ok(existed == 1),
            Ok(Value::I32(code)) => Err(KvError::from_code(code).unwrap_or(KvError::Store)),
            _ => Err(KvError::Store),
        }
    }
}
