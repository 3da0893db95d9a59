//! API tokens, stored as SHA-256 hashes (the token itself is shown once, at creation), with
//! what each may do: scopes, the functions it covers, an optional expiry.

use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::Row;

use super::{Store, StoreError, now_ms};

/// Hex SHA-256 of a token.
pub fn hash_token(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A token's public id: the first 16 hex digits of its hash (the hash itself never leaves
/// the store, the token never enters it).
pub fn token_id(token: &str) -> String {
    hash_token(token)[..16].to_string()
}

/// Where a token came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenSource {
    /// `FLINT_ADMIN_TOKEN`, `--admin-token-file` or the generated `admin-token` file.
    Bootstrap,
    /// `POST /tokens` (`flint token create`).
    Api,
}

impl TokenSource {
    /// The stored label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Bootstrap => "bootstrap",
            Self::Api => "api",
        }
    }
}

/// A token as stored, without its secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TokenRecord {
    /// Public id: the first 16 hex digits of the token's SHA-256.
    pub id: String,
    /// A name to remember it by.
    pub name: String,
    /// Scopes, comma-separated (`admin`, `deploy`, `invoke`, `metrics`).
    pub scopes: String,
    /// The functions it covers (a JSON array), or `None` for all.
    pub functions: Option<String>,
    /// When it was created (Unix ms).
    pub created_at: i64,
    /// When it stops working (Unix ms), if ever.
    pub expires_at: Option<i64>,
    /// When a node last checked it against the store (Unix ms; nodes trust a checked token
    /// for a few seconds, so this is as fine as that).
    pub last_used_at: Option<i64>,
    /// `bootstrap` or `api`.
    pub source: String,
}

const COLUMNS: &str = "id, name, scopes, functions, created_at, expires_at, last_used_at, source";

fn record_from(row: &sqlx::any::AnyRow) -> Result<TokenRecord, sqlx::Error> {
    Ok(TokenRecord {
        id: row.try_get(0)?,
        name: row.try_get(1)?,
        scopes: row.try_get(2)?,
        functions: row.try_get(3)?,
        created_at: row.try_get(4)?,
        expires_at: row.try_get(5)?,
        last_used_at: row.try_get(6)?,
        source: row.try_get(7)?,
    })
}

/// A token to store.
#[derive(Clone, Debug)]
pub struct NewToken<'a> {
    /// The secret (only its hash is stored).
    pub secret: &'a str,
    /// A name to remember it by.
    pub name: &'a str,
    /// Scopes, comma-separated.
    pub scopes: &'a str,
    /// The functions it covers (a JSON array), or `None` for all.
    pub functions: Option<&'a str>,
    /// Expiry (Unix ms).
    pub expires_at: Option<i64>,
    /// Where it came from.
    pub source: TokenSource,
}

impl Store {
    /// Stores (the hash of) a token and returns its record; storing the same secret twice
    /// keeps the first.
    pub async fn add_token(&self, t: &NewToken<'_>) -> Result<TokenRecord, StoreError> {
        sqlx::query(
            "INSERT INTO api_tokens \
             (token_hash, id, name, scopes, functions, created_at, expires_at, source) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (token_hash) DO NOTHING",
        )
        .bind(hash_token(t.secret))
        .bind(token_id(t.secret))
        .bind(t.name)
        .bind(t.scopes)
        .bind(t.functions)
        .bind(now_ms())
        .bind(t.expires_at)
        .bind(t.source.as_str())
        .execute(&self.pool)
        .await?;
        self.token_by_secret(t.secret)
            .await?
            .ok_or(StoreError::Conflict)
    }

    /// Makes `secret` the one bootstrap token: stores it and deletes every other bootstrap
    /// token, so that changing `FLINT_ADMIN_TOKEN` revokes the token it replaced.
    pub async fn replace_bootstrap_token(&self, secret: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM api_tokens WHERE source = $1 AND token_hash <> $2")
            .bind(TokenSource::Bootstrap.as_str())
            .bind(hash_token(secret))
            .execute(&self.pool)
            .await?;
        let new = NewToken {
            secret,
            name: "admin",
            scopes: "admin",
            functions: None,
            expires_at: None,
            source: TokenSource::Bootstrap,
        };
        self.add_token(&new).await.map(drop)
    }

    /// The record of `secret`, if it is a stored token (expired or not); marks it used.
    pub async fn token_by_secret(&self, secret: &str) -> Result<Option<TokenRecord>, StoreError> {
        let hash = hash_token(secret);
        let sql = format!("SELECT {COLUMNS} FROM api_tokens WHERE token_hash = $1");
        let row = sqlx::query(&sql)
            .bind(&hash)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE token_hash = $2")
            .bind(now_ms())
            .bind(&hash)
            .execute(&self.pool)
            .await?;
        Ok(Some(record_from(&row)?))
    }

    /// Every token, oldest first.
    pub async fn list_tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM api_tokens ORDER BY created_at, id");
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(record_from).collect::<Result<_, _>>()?)
    }

    /// Deletes the token with public id `id`. False if there was none.
    pub async fn revoke_token(&self, id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM api_tokens WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}
