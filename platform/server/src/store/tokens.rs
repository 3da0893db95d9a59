//! API tokens, stored as SHA-256 hashes (the token itself is shown once, at creation).

use sha2::{Digest, Sha256};

use super::{Store, StoreError, now_ms};

/// Hex SHA-256 of a token.
pub fn hash_token(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Store {
    /// Stores (the hash of) `token` under `name`; storing the same token twice is a no-op.
    pub async fn add_token(&self, token: &str, name: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO api_tokens (token_hash, name, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (token_hash) DO NOTHING",
        )
        .bind(hash_token(token))
        .bind(name)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Whether `token` is a valid management token.
    pub async fn token_valid(&self, token: &str) -> Result<bool, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM api_tokens WHERE token_hash = $1")
            .bind(hash_token(token))
            .fetch_one(&self.pool)
            .await?;
        Ok(n > 0)
    }
}
