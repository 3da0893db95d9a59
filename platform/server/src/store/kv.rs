//! Each function's key-value data (behind the `flint.kv_*` imports), and the adapter that
//! hands it to the runtime's host functions.

use std::sync::Arc;

use flint_abi::host_fn::KvError;
use flint_runtime::KvStore;
use prometheus::IntCounterVec;

use super::{Store, StoreError};

/// How much a function may keep in its key-value store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KvQuota {
    /// Most keys.
    pub max_keys: u64,
    /// Most bytes, keys plus values.
    pub max_bytes: u64,
}

/// A function's key-value data in the store, used from a vCPU thread. The query runs on the
/// async runtime's own threads; the vCPU thread only waits for its answer, so it never opens a
/// connection or touches a socket (its seccomp filter forbids both).
struct FunctionKv {
    store: Store,
    function: String,
    quota: KvQuota,
    handle: tokio::runtime::Handle,
    rejections: IntCounterVec,
}

impl FunctionKv {
    fn run<T: Send + 'static>(
        &self,
        query: impl std::future::Future<Output = Result<T, StoreError>> + Send + 'static,
    ) -> Result<T, KvError> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let function = self.function.clone();
        self.handle.spawn(async move {
            let answer = query.await.inspect_err(|e| {
                let error = crate::api::error::error_chain(e);
                tracing::warn!(%function, %error, "key-value store call failed");
            });
            let _ = tx.send(answer);
        });
        match rx.recv() {
            Ok(answer) => answer.map_err(|_| KvError::Store),
            Err(_) => Err(KvError::Store),
        }
    }
}

impl KvStore for FunctionKv {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, KvError> {
        let (store, function, key) = (self.store.clone(), self.function.clone(), key.to_vec());
        self.run(async move { store.kv_get(&function, &key).await })
    }
    fn set(&self, key: &[u8], value: &[u8]) -> Result<(), KvError> {
        let (store, function, quota) = (self.store.clone(), self.function.clone(), self.quota);
        let (key, value) = (key.to_vec(), value.to_vec());
        let stored = self.run(async move { store.kv_set(&function, &key, &value, quota).await })?;
        stored.then_some(()).ok_or(KvError::QuotaExceeded)
    }
    fn delete(&self, key: &[u8]) -> Result<bool, KvError> {
        let (store, function, key) = (self.store.clone(), self.function.clone(), key.to_vec());
        self.run(async move { store.kv_delete(&function, &key).await })
    }
    fn refused(&self, error: KvError) {
        self.rejections
            .with_label_values(&[&self.function, error.as_str()])
            .inc();
    }
}

impl Store {
    /// `function`'s key-value data, for its host functions, within `quota`; errors the
    /// module is answered with are counted in `rejections` (`{function, reason}`). Call from
    /// within the tokio runtime; use from blocking threads only.
    pub fn kv_for(
        &self,
        function: &str,
        quota: KvQuota,
        rejections: IntCounterVec,
    ) -> Arc<dyn KvStore> {
        Arc::new(FunctionKv {
            store: self.clone(),
            function: function.to_string(),
            quota,
            handle: tokio::runtime::Handle::current(),
            rejections,
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

    /// Sets `key` to `value` in `function`'s store if the store stays within `quota` (the
    /// other keys, plus this one); false if it would not. One statement, so the check and
    /// the write see the same rows.
    pub async fn kv_set(
        &self,
        function: &str,
        key: &[u8],
        value: &[u8],
        quota: KvQuota,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO kv (function_name, key, value) SELECT $1, $2, $3 \
             WHERE (SELECT COUNT(*) FROM kv WHERE function_name = $1 AND key <> $2) < $4 \
             AND (SELECT COALESCE(SUM(LENGTH(key) + LENGTH(value)), 0) FROM kv \
                  WHERE function_name = $1 AND key <> $2) + $5 <= $6 \
             ON CONFLICT (function_name, key) DO UPDATE SET value = excluded.value",
        )
        .bind(function)
        .bind(key)
        .bind(value)
        .bind(i64::try_from(quota.max_keys).unwrap_or(i64::MAX))
        .bind((key.len() + value.len()) as i64)
        .bind(i64::try_from(quota.max_bytes).unwrap_or(i64::MAX))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
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
