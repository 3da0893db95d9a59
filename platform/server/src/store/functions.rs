//! Functions and their immutable versions.

use serde::Serialize;
use sqlx::Row;

use super::{Store, StoreError, now_ms};

/// One version of a function, without its module bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VersionInfo {
    /// Version number, from 1.
    pub version: i64,
    /// Hex SHA-256 of the module.
    pub sha256: String,
    /// Module size.
    pub size_bytes: i64,
    /// The function configuration (JSON) of this version.
    pub config: String,
    /// When it was deployed (Unix ms).
    pub created_at: i64,
    /// Size of its bundled files' image (0 for none).
    pub files_bytes: i64,
}

/// A function and its active version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FunctionSummary {
    /// Name.
    pub name: String,
    /// The active version, if any.
    pub active: Option<VersionInfo>,
    /// When the function was first deployed (Unix ms).
    pub created_at: i64,
    /// When it last changed (Unix ms).
    pub updated_at: i64,
    /// Its traffic split (JSON), if calls are split between versions.
    pub traffic: Option<String>,
    /// Raised by every change to the function.
    pub revision: i64,
}

/// A version with its module bytes.
#[derive(Clone, Debug)]
pub struct StoredModule {
    /// The version.
    pub info: VersionInfo,
    /// The `.wasm` bytes.
    pub module: Vec<u8>,
    /// The bundled files' image, if it has files.
    pub files: Option<Vec<u8>>,
}

const VERSION_COLUMNS: &str =
    "v.version, v.sha256, v.size_bytes, v.config, v.created_at, v.files_bytes";

fn version_from(row: &sqlx::any::AnyRow, at: usize) -> Result<VersionInfo, sqlx::Error> {
    Ok(VersionInfo {
        version: row.try_get(at)?,
        sha256: row.try_get(at + 1)?,
        size_bytes: row.try_get(at + 2)?,
        config: row.try_get(at + 3)?,
        created_at: row.try_get(at + 4)?,
        files_bytes: row.try_get(at + 5)?,
    })
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

impl Store {
    /// Stores a new immutable version of `name` and makes it active. Returns its number.
    pub async fn create_version(
        &self,
        name: &str,
        sha256: &str,
        module: &[u8],
        files: Option<&[u8]>,
        config: &str,
    ) -> Result<i64, StoreError> {
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO functions (name, active_version, created_at, updated_at) \
             VALUES ($1, NULL, $2, $3) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let next: i64 = sqlx::query_scalar(
            "SELECT COALESCE(MAX(version), 0) + 1 FROM function_versions WHERE function_name = $1",
        )
        .bind(name)
        .fetch_one(&mut *tx)
        .await?;
        let inserted = sqlx::query(
            "INSERT INTO function_versions \
             (function_name, version, sha256, size_bytes, module, config, created_at, files, \
             files_bytes) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(name)
        .bind(next)
        .bind(sha256)
        .bind(module.len() as i64)
        .bind(module)
        .bind(config)
        .bind(now)
        .bind(files.map(<[u8]>::to_vec))
        .bind(files.map_or(0, |f| f.len() as i64))
        .execute(&mut *tx)
        .await;
        match inserted {
            Err(e) if is_unique_violation(&e) => return Err(StoreError::Conflict),
            other => other?,
        };
        sqlx::query(
            "UPDATE functions SET active_version = $1, updated_at = $2, traffic = NULL, \
             revision = revision + 1 \
             WHERE name = $3",
        )
        .bind(next)
        .bind(now)
        .bind(name)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.changed(name).await;
        Ok(next)
    }

    /// Every function with its active version, by name.
    pub async fn list_functions(&self) -> Result<Vec<FunctionSummary>, StoreError> {
        self.summaries(None).await
    }

    async fn summaries(&self, name: Option<&str>) -> Result<Vec<FunctionSummary>, StoreError> {
        let filter = if name.is_some() {
            "WHERE f.name = $1"
        } else {
            ""
        };
        let sql = format!(
            "SELECT f.name, f.created_at, f.updated_at, {VERSION_COLUMNS}, f.traffic, \
             f.revision \
             FROM functions f LEFT JOIN function_versions v \
             ON v.function_name = f.name AND v.version = f.active_version {filter} ORDER BY f.name"
        );
        let mut query = sqlx::query(&sql);
        if let Some(name) = name {
            query = query.bind(name);
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| {
                let version: Option<i64> = row.try_get(3)?;
                Ok(FunctionSummary {
                    name: row.try_get(0)?,
                    created_at: row.try_get(1)?,
                    updated_at: row.try_get(2)?,
                    active: version.map(|_| version_from(row, 3)).transpose()?,
                    traffic: row.try_get(9)?,
                    revision: row.try_get(10)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// One function and all its versions (newest first), if it exists.
    pub async fn get_function(
        &self,
        name: &str,
    ) -> Result<Option<(FunctionSummary, Vec<VersionInfo>)>, StoreError> {
        let summary = self.summaries(Some(name)).await?.into_iter().next();
        let Some(summary) = summary else {
            return Ok(None);
        };
        let sql = format!(
            "SELECT {VERSION_COLUMNS} FROM function_versions v \
             WHERE v.function_name = $1 ORDER BY v.version DESC"
        );
        let rows = sqlx::query(&sql).bind(name).fetch_all(&self.pool).await?;
        let versions = rows
            .iter()
            .map(|r| version_from(r, 0))
            .collect::<Result<_, _>>()?;
        Ok(Some((summary, versions)))
    }

    /// The active version of `name` without its module, if any.
    pub async fn active_version(&self, name: &str) -> Result<Option<VersionInfo>, StoreError> {
        let summary = self.summaries(Some(name)).await?.into_iter().next();
        Ok(summary.and_then(|s| s.active))
    }

    /// The active version of `name` with its module, if any.
    pub async fn active_module(&self, name: &str) -> Result<Option<StoredModule>, StoreError> {
        self.module(name, None).await
    }

    /// Version `version` of `name` with its module, if it exists.
    pub async fn version_module(
        &self,
        name: &str,
        version: i64,
    ) -> Result<Option<StoredModule>, StoreError> {
        self.module(name, Some(version)).await
    }

    /// Version `version` (the active one for `None`) of `name`, with its module.
    async fn module(
        &self,
        name: &str,
        version: Option<i64>,
    ) -> Result<Option<StoredModule>, StoreError> {
        let sql = format!(
            "SELECT {VERSION_COLUMNS}, v.module, v.files FROM function_versions v \
             WHERE v.function_name = $1 AND v.version = \
             COALESCE($2, (SELECT active_version FROM functions WHERE name = $1))"
        );
        let row = sqlx::query(&sql)
            .bind(name)
            .bind(version)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            Ok(StoredModule {
                info: version_from(&r, 0)?,
                module: r.try_get(6)?,
                files: r.try_get(7)?,
            })
        })
        .transpose()
        .map_err(|e: sqlx::Error| StoreError::from(e))
    }

    /// Makes `version` of `name` active. False if that version does not exist.
    pub async fn set_active(&self, name: &str, version: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE functions SET active_version = $1, updated_at = $2, traffic = NULL, \
             revision = revision + 1 \
             WHERE name = $3 \
             AND EXISTS (SELECT 1 FROM function_versions WHERE function_name = $3 AND version = $1)",
        )
        .bind(version)
        .bind(now_ms())
        .bind(name)
        .execute(&self.pool)
        .await?;
        self.changed(name).await;
        Ok(done.rows_affected() == 1)
    }

    /// Sets (or, with `None`, clears) the traffic split of `name`. False if there is no such
    /// function.
    pub async fn set_traffic(&self, name: &str, traffic: Option<&str>) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE functions SET traffic = $1, updated_at = $2, revision = revision + 1 \
             WHERE name = $3",
        )
        .bind(traffic)
        .bind(now_ms())
        .bind(name)
        .execute(&self.pool)
        .await?;
        self.changed(name).await;
        Ok(done.rows_affected() == 1)
    }

    /// Deletes `name`, its versions, records, key-value data and secrets. False if it did not exist.
    pub async fn delete_function(&self, name: &str) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        for table in ["function_versions", "invocations", "logs", "kv", "secrets"] {
            let sql = format!("DELETE FROM {table} WHERE function_name = $1");
            sqlx::query(&sql).bind(name).execute(&mut *tx).await?;
        }
        let done = sqlx::query("DELETE FROM functions WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.changed(name).await;
        Ok(done.rows_affected() == 1)
    }
}
