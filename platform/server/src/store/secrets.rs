//! Sealed function secrets (see [`crate::secrets`]): the store never sees a value in clear.

use serde::Serialize;
use sqlx::Row;

use super::{Store, StoreError, now_ms};
use crate::secrets::Sealed;

/// A secret as the API shows it: its name and when it changed, never its value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SecretInfo {
    /// The environment variable it becomes.
    pub name: String,
    /// When it was last set (Unix ms).
    pub updated_at: i64,
}

fn sealed_from(row: &sqlx::any::AnyRow, at: usize) -> Result<Sealed, sqlx::Error> {
    Ok(Sealed {
        key_id: row.try_get(at)?,
        nonce: row.try_get(at + 1)?,
        ciphertext: row.try_get(at + 2)?,
    })
}

impl Store {
    /// Sets secret `name` of `function` to `sealed`.
    pub async fn put_secret(
        &self,
        function: &str,
        name: &str,
        sealed: &Sealed,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO secrets (function_name, name, key_id, nonce, ciphertext, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (function_name, name) DO UPDATE SET \
             key_id = excluded.key_id, nonce = excluded.nonce, ciphertext = excluded.ciphertext, \
             updated_at = excluded.updated_at",
        )
        .bind(function)
        .bind(name)
        .bind(&sealed.key_id)
        .bind(&sealed.nonce)
        .bind(&sealed.ciphertext)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Deletes secret `name` of `function`; whether it existed.
    pub async fn delete_secret(&self, function: &str, name: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM secrets WHERE function_name = $1 AND name = $2")
            .bind(function)
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// The names of `function`'s secrets.
    pub async fn list_secrets(&self, function: &str) -> Result<Vec<SecretInfo>, StoreError> {
        let rows = sqlx::query(
            "SELECT name, updated_at FROM secrets WHERE function_name = $1 ORDER BY name",
        )
        .bind(function)
        .fetch_all(&self.pool)
        .await?;
        let infos = rows.iter().map(|r| {
            Ok(SecretInfo {
                name: r.try_get(0)?,
                updated_at: r.try_get(1)?,
            })
        });
        Ok(infos.collect::<Result<_, sqlx::Error>>()?)
    }

    /// Every sealed secret, of `function` or of all functions: (function, name, sealed).
    pub async fn sealed_secrets(
        &self,
        function: Option<&str>,
    ) -> Result<Vec<(String, String, Sealed)>, StoreError> {
        let rows = sqlx::query(
            "SELECT function_name, name, key_id, nonce, ciphertext FROM secrets \
             WHERE $1 IS NULL OR function_name = $1 ORDER BY function_name, name",
        )
        .bind(function)
        .fetch_all(&self.pool)
        .await?;
        let all = rows
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, sealed_from(r, 2)?)));
        Ok(all.collect::<Result<_, sqlx::Error>>()?)
    }
}
