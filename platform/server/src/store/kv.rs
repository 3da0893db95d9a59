//! Each function's key-value data (behind the `flint.kv_*` imports), and the adapter that
//! hands it to the runtime's host functions.

use std::sync::Arc;

use flint_runtime::KvStore;

use super::{Store, StoreError};

/// A function's key-value data in the store, used from a vCPU thread (which blocks on the
/// query; it never runs on an async worker).
struct FunctionKv {
    store: Store,
    function: String,
    handle: tokio::runtime::Handle,
}

impl KvStore for FunctionKv {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, String> {
        self.handle
            .block_on(self.store.kv_get(&self.function, key))
            .map_err(|e| e.to_string())
    }
    fn set(&self, key: &[u8], value: &[u8]) -> Result<(), String> {
        self.handle
            .block_on(self.store.kv_set(&self.function, key, value))
            .map_err(|e| e.to_string())
    }
    fn delete(&self, key: &[u8]) -> Result<bool, String> {
        self.handle
            .block_on(self.store.kv_delete(&self.function, key))
            .map_err(|e| e.to_string())
    }
}

impl Store {
    /// `function`'s key-value data, for its host functions. Call from within the tokio
    /// runtime; use from blocking threads only.
    pub fn kv_for(&self, function: &str) -> Arc<dyn KvStore> {
        Arc::new(FunctionKv {
            store: self.clone(),
            function: function.to_string(),
            handle: tokio::runtime::Handle::current(),
        })
    }

    /// The value of `key` in `function`'s store.
    pub async fn kv_get(&self, function: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT value FROM kv WHERE function_name = $1 AND key = $2")
                .bind(function)
                .bind(key)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Sets `key` to `value` in `function`'s store.
    pub async fn kv_set(&self, function: &str, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO kv (function_name, key, value) VALUES ($1, $2, $3) \
             ON CONFLICT (function_name, key) DO UPDATE SET value = excluded.value",
        )
        .bind(function)
        .bind(key)
        .bind(value)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Deletes `key` from `function`'s store; whether it existed.
    pub async fn kv_delete(&self, function: &str, key: &[u8]) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM kv WHERE function_name = $1 AND key = $2")
            .bind(function)
            .bind(key)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}
