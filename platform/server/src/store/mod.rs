//! The store: functions and their immutable versions, recent invocations and logs, the
//! key-value data of each function, and API tokens.
//!
//! One `sqlx::AnyPool` over either an embedded SQLite file (the default: zero set-up) or
//! PostgreSQL (several nodes sharing one database). The schema lives in `migrations/sqlite` and
//! `migrations/postgres` (the same tables, each in its dialect) and is applied at start. Every
//! query here is written once, in the SQL both dialects accept: `$n` parameters in ascending
//! order, times as Unix milliseconds, no booleans.

mod functions;
mod kv;
mod records;
mod secrets;
mod tokens;

use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;

pub use functions::{FunctionSummary, StoredModule, VersionInfo};
pub use kv::KvQuota;
pub use records::{InvocationRecord, LogRecord, LogStream};
pub use secrets::SecretInfo;
pub use tokens::{NewToken, TokenRecord, TokenSource, hash_token};

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database URL names no backend Flint supports.
    #[error("Unsupported database URL {0:?} (use sqlite:// or postgres://)")]
    UnsupportedUrl(String),
    /// Connecting failed.
    #[error("Connect to the database")]
    Connect(#[source] sqlx::Error),
    /// Applying the schema failed.
    #[error("Apply migrations")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    /// A query failed.
    #[error("Database query")]
    Query(#[from] sqlx::Error),
    /// A concurrent change won (e.g. two deploys of one name at once).
    #[error("Conflicting concurrent change")]
    Conflict,
}

/// How long a call waits for a database connection before it gives up: while the database is
/// down, calls that need it answer `503 store_unavailable` within about this long.
pub const ACQUIRE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

impl StoreError {
    /// Whether the database could not be reached (down, restarting, out of connections),
    /// as opposed to a query it refused.
    pub fn unavailable(&self) -> bool {
        match self {
            StoreError::Connect(_) => true,
            StoreError::Query(e) => match e {
                sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::Io(_)
                | sqlx::Error::Tls(_)
                | sqlx::Error::Protocol(_)
                | sqlx::Error::WorkerCrashed => true,
                // 57P0x: the server is shutting down or restarting; 08xxx: connection errors.
                sqlx::Error::Database(d) => d
                    .code()
                    .is_some_and(|c| c.starts_with("57P0") || c.starts_with("08")),
                _ => false,
            },
            _ => false,
        }
    }
}

/// Which database is behind the pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite file.
    Sqlite,
    /// PostgreSQL server.
    Postgres,
}

/// The store.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

/// Now, in Unix milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/postgres");

impl Store {
    /// The URL of the embedded database in `data_dir`.
    pub fn sqlite_url(data_dir: &std::path::Path) -> String {
        format!("sqlite://{}?mode=rwc", data_dir.join("flint.db").display())
    }

    /// Connects to `url` and brings the schema up to date.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(StoreError::UnsupportedUrl(url.to_string()));
        };
        let mut options = AnyPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(ACQUIRE_TIMEOUT);
        if backend == Backend::Sqlite {
            options = options.after_connect(|conn, _| {
                Box::pin(async move {
                    use sqlx::Executor;
                    conn.execute("PRAGMA journal_mode = WAL").await?;
                    conn.execute("PRAGMA busy_timeout = 5000").await?;
                    conn.execute("PRAGMA foreign_keys = ON").await?;
                    conn.execute("PRAGMA synchronous = NORMAL").await?;
                    Ok(())
                })
            });
        }
        let pool = options.connect(url).await.map_err(StoreError::Connect)?;
        let migrator = match backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator.run(&pool).await.map_err(StoreError::Migrate)?;
        Ok(Self { pool, backend })
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Whether the database answers within a second.
    pub async fn ping(&self) -> bool {
        let ping = sqlx::query("SELECT 1").execute(&self.pool);
        matches!(
            tokio::time::timeout(std::time::Duration::from_secs(1), ping).await,
            Ok(Ok(_))
        )
    }

    /// The channel on which PostgreSQL announces changed functions (payload: the name).
    pub const CHANGES: &'static str = "flint_changes";

    /// Tells every node that `name` changed (PostgreSQL `NOTIFY`; nodes also poll, so a
    /// notification that cannot be sent only delays the change there).
    pub async fn changed(&self, name: &str) {
        if self.backend != Backend::Postgres {
            return;
        }
        let sent = sqlx::query("SELECT pg_notify($1, $2)")
            .bind(Self::CHANGES)
            .bind(name)
            .execute(&self.pool)
            .await;
        if let Err(e) = sent {
            tracing::warn!(function = %name, error = %e, "could not announce a change");
        }
    }

    /// Closes every connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}
