//! Recent invocations and logs, kept per function up to a bound (the oldest are dropped).

use serde::Serialize;
use sqlx::Row;

use super::{Store, StoreError};

/// One finished invocation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InvocationRecord {
    /// The function.
    pub function_name: String,
    /// The version that ran.
    pub version: i64,
    /// When it started (Unix ms).
    pub started_at: i64,
    /// How long it took.
    pub duration_us: i64,
    /// HTTP status returned.
    pub status: i64,
    /// An [`crate::outcome::OutcomeKind`], as its `as_str`.
    pub outcome: String,
    /// The module's exit code, if it got that far.
    pub exit_code: Option<i64>,
    /// The call's request id (`x-flint-request-id`).
    pub request_id: Option<String>,
}

/// Where a log line came from: the `stream` of a [`LogRecord`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogStream {
    /// `flint.log`.
    Log,
    /// The module's stderr.
    Stderr,
}

impl LogStream {
    /// Every stream.
    pub const ALL: [LogStream; 2] = [LogStream::Log, LogStream::Stderr];

    /// The stream's name in records and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            LogStream::Log => "log",
            LogStream::Stderr => "stderr",
        }
    }
}

/// One log line of a function.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LogRecord {
    /// Position in the function's log (0 before it is stored): `since` and SSE ids use it.
    pub id: i64,
    /// The function.
    pub function_name: String,
    /// The version that wrote it.
    pub version: i64,
    /// When (Unix ms).
    pub at: i64,
    /// A [`flint_abi::message::LogLevel`], as its `as_str`.
    pub level: String,
    /// A [`LogStream`], as its `as_str`.
    pub stream: String,
    /// The text.
    pub message: String,
    /// The request id of the call that logged it.
    pub request_id: Option<String>,
}

/// Rows per multi-row `INSERT`, largest first: a batch is written in statements of these
/// sizes, so a few prepared statements serve every batch (one statement per row cost a round
/// trip to the database's worker per invocation, the largest share of the store's CPU under
/// load).
const ROWS_PER_INSERT: [usize; 7] = [64, 32, 16, 8, 4, 2, 1];

/// `rows` split into runs of [`ROWS_PER_INSERT`] sizes, in order.
fn chunks<T>(mut rows: &[T]) -> impl Iterator<Item = &[T]> {
    std::iter::from_fn(move || {
        let size = ROWS_PER_INSERT.into_iter().find(|&n| n <= rows.len())?;
        let (chunk, rest) = rows.split_at(size);
        rows = rest;
        Some(chunk)
    })
}

/// `INSERT INTO {into} VALUES ($1, ..., $cols), ...` for `rows` rows; with `numbered` false,
/// `?` for every parameter instead. SQLite gets `?`: binding numbered parameters looks each
/// name up in a list (`sqlite3_bind_parameter_name`), quadratic in a 512-parameter statement
/// and measured at 3% of the server's CPU under load.
fn insert_sql(into: &str, cols: usize, rows: usize, numbered: bool) -> String {
    let mut sql = format!("INSERT INTO {into} VALUES ");
    for row in 0..rows {
        sql.push_str(if row == 0 { "(" } else { ", (" });
        for col in 0..cols {
            let sep = if col == 0 { "" } else { ", " };
            if numbered {
                sql.push_str(&format!("{sep}${}", row * cols + col + 1));
            } else {
                sql.push_str(sep);
                sql.push('?');
            }
        }
        sql.push(')');
    }
    sql
}

/// A query being built on the `Any` driver.
type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

/// Inserts `rows` into `into` (a table and its `cols` columns) in multi-row statements of
/// [`ROWS_PER_INSERT`] sizes, `bind` adding one row's values in column order.
async fn insert_rows<T>(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    into: &str,
    cols: usize,
    rows: &[T],
    numbered: bool,
    bind: impl for<'q> Fn(AnyQuery<'q>, &'q T) -> AnyQuery<'q>,
) -> Result<(), sqlx::Error> {
    for chunk in chunks(rows) {
        let sql = insert_sql(into, cols, chunk.len(), numbered);
        let mut query = sqlx::query(&sql);
        for row in chunk {
            query = bind(query, row);
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

impl Store {
    /// Writes `invocations` and `logs` in one transaction: all of them or none, so a batch
    /// that failed can be written again without duplicates.
    pub async fn insert_batch(
        &self,
        invocations: &[InvocationRecord],
        logs: &[LogRecord],
    ) -> Result<(), StoreError> {
        let numbered = self.backend == super::Backend::Postgres;
        let mut tx = self.pool.begin().await?;
        let into = "invocations (function_name, version, started_at, duration_us, status, \
                    outcome, exit_code, request_id)";
        insert_rows(&mut tx, into, 8, invocations, numbered, |q, r| {
            q.bind(&r.function_name)
                .bind(r.version)
                .bind(r.started_at)
                .bind(r.duration_us)
                .bind(r.status)
                .bind(&r.outcome)
                .bind(r.exit_code)
                .bind(&r.request_id)
        })
        .await?;
        let into = "logs (function_name, version, at, level, stream, message, request_id)";
        insert_rows(&mut tx, into, 7, logs, numbered, |q, r| {
            q.bind(&r.function_name)
                .bind(r.version)
                .bind(r.at)
                .bind(&r.level)
                .bind(&r.stream)
                .bind(&r.message)
                .bind(&r.request_id)
        })
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The newest `limit` invocations of `name`, newest first, optionally since `since_ms`.
    pub async fn recent_invocations(
        &self,
        name: &str,
        since_ms: i64,
        limit: i64,
    ) -> Result<Vec<InvocationRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT function_name, version, started_at, duration_us, status, outcome, exit_code, \
             request_id FROM invocations WHERE function_name = $1 AND started_at >= $2 \
             ORDER BY id DESC LIMIT $3",
        )
        .bind(name)
        .bind(since_ms)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(InvocationRecord {
                    function_name: r.try_get(0)?,
                    version: r.try_get(1)?,
                    started_at: r.try_get(2)?,
                    duration_us: r.try_get(3)?,
                    status: r.try_get(4)?,
                    outcome: r.try_get(5)?,
                    exit_code: r.try_get(6)?,
                    request_id: r.try_get(7)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Log lines of `name`, newest first: the newest `limit`, or with `after`, the oldest
    /// `limit` lines after that id (so a follower pages forward without gaps).
    pub async fn recent_logs(
        &self,
        name: &str,
        limit: i64,
        after: Option<i64>,
    ) -> Result<Vec<LogRecord>, StoreError> {
        let (order, after) = match after {
            Some(a) => ("ASC", a),
            None => ("DESC", -1),
        };
        let sql = format!(
            "SELECT id, function_name, version, at, level, stream, message, request_id FROM logs \
             WHERE function_name = $1 AND id > $2 ORDER BY id {order} LIMIT $3"
        );
        let rows = sqlx::query(&sql)
            .bind(name)
            .bind(after)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        let mut logs = rows
            .iter()
            .map(|r| {
                Ok(LogRecord {
                    id: r.try_get(0)?,
                    function_name: r.try_get(1)?,
                    version: r.try_get(2)?,
                    at: r.try_get(3)?,
                    level: r.try_get(4)?,
                    stream: r.try_get(5)?,
                    message: r.try_get(6)?,
                    request_id: r.try_get(7)?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        if order == "ASC" {
            logs.reverse();
        }
        Ok(logs)
    }

    /// Drops all but the newest `keep` invocations and log lines of `name`.
    pub async fn prune(&self, name: &str, keep: i64) -> Result<(), StoreError> {
        for table in ["invocations", "logs"] {
            let sql = format!(
                "DELETE FROM {table} WHERE function_name = $1 AND id <= \
                 (SELECT id FROM {table} WHERE function_name = $1 ORDER BY id DESC LIMIT 1 OFFSET $2)"
            );
            sqlx::query(&sql)
                .bind(name)
                .bind(keep)
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_split_into_few_statement_sizes_in_order() {
        let rows: Vec<u32> = (0..203).collect();
        let sizes: Vec<usize> = chunks(&rows).map(<[u32]>::len).collect();
        assert_eq!(sizes, [64, 64, 64, 8, 2, 1]);
        let joined: Vec<u32> = chunks(&rows).flatten().copied().collect();
        assert_eq!(joined, rows);
        assert_eq!(chunks::<u32>(&[]).count(), 0);
    }

    #[test]
    fn insert_numbers_every_parameter_once() {
        assert_eq!(
            insert_sql("t (a, b)", 2, 3, true),
            "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4), ($5, $6)"
        );
        assert_eq!(
            insert_sql("t (a, b)", 2, 2, false),
            "INSERT INTO t (a, b) VALUES (?, ?), (?, ?)"
        );
    }
}
