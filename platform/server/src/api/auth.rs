//! Who is calling, and what they may do.
//!
//! A request carries no token (an anonymous caller: public functions only) or a bearer
//! token with scopes:
//!
//! | scope | may |
//! |---|---|
//! | `admin` | everything, tokens included |
//! | `deploy` | deploy, change, roll back, delete, show, read logs and records of the functions it covers; list those |
//! | `invoke` | call the private functions it names |
//! | `metrics` | read `/metrics` |
//!
//! A token covers every function or a named list (an `invoke` token must name its
//! functions). Checks happen before a request body is read or a function loaded. Tokens
//! verified against the store are trusted for [`TRUST_FOR`] on this node; a revocation
//! takes effect here at once and on other nodes within that time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode, header};
use flint_vmm::sync::lock;

use super::AppState;
use super::error::ApiError;
use crate::store::{TokenRecord, now_ms};

/// How long a verified token is trusted without asking the store again.
pub const TRUST_FOR: Duration = Duration::from_secs(10);
/// How long a token check waits for the store.
const ASK_FOR: Duration = Duration::from_secs(1);
/// How long a verified token stays trusted while the store cannot be asked (an outage must
/// not lock callers out of warm functions).
pub const TRUST_IN_OUTAGE_FOR: Duration = Duration::from_secs(15 * 60);
/// After a token check found the store unreachable, how long checks use the grants they
/// have without asking again, so that during an outage a call that needs the store answers
/// within the store's own deadline, not that plus [`ASK_FOR`].
const REASK_AFTER: Duration = Duration::from_secs(5);

/// What a token may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Everything.
    Admin,
    /// Manage the covered functions.
    Deploy,
    /// Call the covered private functions.
    Invoke,
    /// Read `/metrics`.
    Metrics,
}

impl Scope {
    /// Every scope.
    pub const ALL: [Scope; 4] = [Self::Admin, Self::Deploy, Self::Invoke, Self::Metrics];

    /// The scope's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Deploy => "deploy",
            Self::Invoke => "invoke",
            Self::Metrics => "metrics",
        }
    }

    /// The scope named `s`.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// What a call needs.
#[derive(Clone, Copy, Debug)]
pub enum Need<'a> {
    /// Call a private function.
    Invoke(&'a str),
    /// Manage a function (deploy, config, rollback, delete, show, logs, records).
    Manage(&'a str),
    /// List functions (the answer is filtered to those the token covers).
    List,
    /// Create, list or revoke tokens.
    Tokens,
    /// Read `/metrics`.
    Metrics,
}

/// What a verified token grants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    /// Public id.
    pub id: String,
    /// Scopes.
    pub scopes: Vec<Scope>,
    /// Covered functions; `None` for all.
    pub functions: Option<Vec<String>>,
    /// Expiry (Unix ms).
    pub expires_at: Option<i64>,
}

impl Grant {
    /// The grant a stored token describes; `None` for a record this build cannot read (a
    /// scope it does not know), which then grants nothing.
    pub fn from_record(r: &TokenRecord) -> Option<Self> {
        let scopes = r
            .scopes
            .split(',')
            .map(Scope::parse)
            .collect::<Option<Vec<_>>>()?;
        let functions = match &r.functions {
            None => None,
            Some(json) => Some(serde_json::from_str(json).ok()?),
        };
        Some(Self {
            id: r.id.clone(),
            scopes,
            functions,
            expires_at: r.expires_at,
        })
    }

    fn has(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }

    /// Whether the grant covers `function` (by name; all if it names none).
    pub fn covers(&self, function: &str) -> bool {
        self.has(Scope::Admin)
            || self
                .functions
                .as_ref()
                .is_none_or(|f| f.iter().any(|n| n == function))
    }

    /// Whether the grant allows `need`.
    pub fn allows(&self, need: Need<'_>) -> bool {
        if self.has(Scope::Admin) {
            return true;
        }
        match need {
            Need::Invoke(f) => self.has(Scope::Invoke) && self.covers(f),
            Need::Manage(f) => self.has(Scope::Deploy) && self.covers(f),
            Need::List => self.has(Scope::Deploy),
            Need::Tokens => false,
            Need::Metrics => self.has(Scope::Metrics),
        }
    }

    fn expired(&self) -> bool {
        self.expires_at.is_some_and(|t| t <= now_ms())
    }
}

/// The caller of a request.
#[derive(Clone, Debug)]
pub enum Caller {
    /// No token.
    Anonymous,
    /// A valid token.
    Token(Arc<Grant>),
}

impl Caller {
    /// Whether the caller may do `need`.
    pub fn allows(&self, need: Need<'_>) -> bool {
        match self {
            Self::Anonymous => false,
            Self::Token(g) => g.allows(need),
        }
    }

    /// Whether the caller's token covers `function` (for filtering lists).
    pub fn covers(&self, function: &str) -> bool {
        matches!(self, Self::Token(g) if g.covers(function))
    }

    /// `Ok` if the caller may do `need`; else 401 without a token, 403 with one.
    pub fn require(&self, need: Need<'_>) -> Result<(), ApiError> {
        if self.allows(need) {
            return Ok(());
        }
        Err(self.refusal(need))
    }

    /// The refusal of `need` to this caller.
    pub fn refusal(&self, need: Need<'_>) -> ApiError {
        match self {
            Self::Anonymous => ApiError::unauthorized(),
            Self::Token(_) => forbidden(need),
        }
    }
}

/// 403: the token is valid but its scope does not cover the call.
fn forbidden(need: Need<'_>) -> ApiError {
    let what = match need {
        Need::Invoke(f) => format!("invoke function {f:?}"),
        Need::Manage(f) => format!("manage function {f:?}"),
        Need::List => "list functions".into(),
        Need::Tokens => "manage tokens".into(),
        Need::Metrics => "read metrics".into(),
    };
    ApiError::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        format!("this token's scope does not allow it to {what}"),
    )
}

/// Grants verified recently, by token hash.
#[derive(Debug, Default)]
pub struct TokenCache {
    verified: Mutex<HashMap<String, (Arc<Grant>, Instant)>>,
    /// When a check last found the store unreachable.
    unreachable_at: Mutex<Option<Instant>>,
}

impl TokenCache {
    /// Notes that the store could not be reached just now: for a few seconds, checks use
    /// the grants they have instead of waiting for it.
    pub fn store_unreachable(&self) {
        *lock(&self.unreachable_at) = Some(Instant::now());
    }

    /// Forgets the grant with public id `id` (after a revocation on this node).
    pub fn forget(&self, id: &str) {
        lock(&self.verified).retain(|_, (g, _)| g.id != id);
    }
}

fn bearer(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| ApiError::unauthorized())?;
    let (scheme, token) = value.split_once(' ').ok_or_else(ApiError::unauthorized)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(ApiError::unauthorized());
    }
    Ok(Some(token.trim()))
}

/// Who sent `headers`: anonymous without an `Authorization` header, a grant for a valid
/// token, and 401 for a malformed, unknown, revoked or expired one.
pub async fn caller(state: &AppState, headers: &HeaderMap) -> Result<Caller, ApiError> {
    let Some(token) = bearer(headers)? else {
        return Ok(Caller::Anonymous);
    };
    let hash = crate::store::hash_token(token);
    let cached = lock(&state.tokens.verified).get(&hash).cloned();
    let store_down = lock(&state.tokens.unreachable_at).is_some_and(|t| t.elapsed() < REASK_AFTER);
    let trusted_for = if store_down {
        TRUST_IN_OUTAGE_FOR
    } else {
        TRUST_FOR
    };
    let fresh = cached
        .as_ref()
        .filter(|(_, at)| at.elapsed() < trusted_for)
        .map(|(g, _)| g.clone());
    let grant = match fresh {
        Some(g) => g,
        None => {
            // Asked with a short deadline: during an outage the stale grant below answers.
            let asked = tokio::time::timeout(ASK_FOR, state.store.token_by_secret(token)).await;
            let asked = asked.unwrap_or(Err(crate::store::StoreError::Query(
                sqlx::Error::PoolTimedOut,
            )));
            let record = match asked {
                Ok(r) => r,
                Err(e) if e.unavailable() => {
                    state.tokens.store_unreachable();
                    let stale = cached.filter(|(_, at)| at.elapsed() < TRUST_IN_OUTAGE_FOR);
                    match stale {
                        Some((g, _)) => return checked(g),
                        None => return Err(e.into()),
                    }
                }
                Err(e) => return Err(e.into()),
            };
            let grant = record
                .as_ref()
                .and_then(Grant::from_record)
                .ok_or_else(ApiError::unauthorized)?;
            let grant = Arc::new(grant);
            let mut verified = lock(&state.tokens.verified);
            if verified.len() > 10_000 {
                verified.clear();
            }
            verified.insert(hash, (grant.clone(), Instant::now()));
            grant
        }
    };
    checked(grant)
}

/// The caller of `grant`, unless it has expired.
fn checked(grant: Arc<Grant>) -> Result<Caller, ApiError> {
    if grant.expired() {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "token_expired",
            "this token has expired",
        ));
    }
    Ok(Caller::Token(grant))
}

/// The caller of `headers`, if they may do `need` (401/403 otherwise).
pub async fn require(
    state: &AppState,
    headers: &HeaderMap,
    need: Need<'_>,
) -> Result<Caller, ApiError> {
    let caller = caller(state, headers).await?;
    caller.require(need)?;
    Ok(caller)
}

/// A new random token: 32 bytes from the OS, hex.
pub fn new_token() -> Result<String, getrandom::Error> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b)?;
    Ok(format!(
        "flint_{}",
        b.iter().map(|x| format!("{x:02x}")).collect::<String>()
    ))
}
