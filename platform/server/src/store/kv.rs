//! Each function's key-value data (behind the `flint.kv_*` imports), and the adapter that
//! hands it to the runtime's host functions.

use std::sync::Arc;

use flint_runtime::KvStore;

use super::{Store, StoreError};

/// A function's key-value data in the store, used from a vCPU thread. The query runs on the
/// async runtime's own threads; the vCPU thread only waits for its answer, so it never opens a
/// connection or touches a socket (its seccomp filter forbids both).
struct FunctionKv {
    store: Store,
    function: String,
    handle: tokio::runtime::Handle,
}

impl FunctionKv {
    fn run<T: Send + 'static>(
        &self,
        query: impl std::future::Future<Output = Result<T, StoreError>> + Send + 'static,
    ) -> Result<T, String> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.handle.spawn(async move {
            let _ = tx.send(query.await);
        });
        match rx.recv() {
            Ok(answer) => answer.map_err(|e| e.to_string()),
            Err(_) => Err("the server is shutting down".to_string()),
        }
    }
}

impl KvStore for FunctionKv {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, String> {
        let (store, function, key) = (self.store.clone(), self.function.clone(), key.to_vec());
        self.run(async move { store.kv_get(&function, &key).await })
    }
    fn set(&self, key: &[u8], value: &[u8]) -> Result<(), String> {
        let (store, function) = (self.store.clone(), self.function.clone());
        let (key, value) = (key.to_vec(), value.to_vec());
        self.run(async move { store.kv_set(&function, &key, &value).await })
    }
    fn delete(&self, key: &[u8]) -> Result<bool, String> {
        let (store, function, key) = (self.store.clone(), self.function.clone(), key.to_vec());
        self.run(async move { store.kv_delete(&function, &key).await })
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
