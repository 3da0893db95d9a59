//! Each function's key-value data (behind the `flint.kv_*` imports).

use super::{Store, StoreError};

impl Store {
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
