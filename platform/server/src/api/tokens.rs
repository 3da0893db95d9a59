//! Managing tokens (admin scope): `POST /tokens`, `GET /tokens`, `DELETE /tokens/{id}`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::SharedState;
use super::auth::{self, Need, Scope};
use super::error::ApiError;
use crate::settings::validate_name;
use crate::store::{NewToken, TokenRecord, TokenSource, now_ms};

/// Most functions one token may name.
pub const MAX_TOKEN_FUNCTIONS: usize = 100;
/// Longest lifetime a token may be given: ten years.
pub const MAX_EXPIRES_IN_S: u64 = 10 * 365 * 86_400;

/// Body of `POST /tokens`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    /// A name to remember it by.
    #[serde(default)]
    pub name: Option<String>,
    /// Scopes.
    pub scopes: Vec<Scope>,
    /// Covered functions; all when absent.
    #[serde(default)]
    pub functions: Option<Vec<String>>,
    /// Lifetime in seconds; none when absent.
    #[serde(default)]
    pub expires_in_s: Option<u64>,
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "invalid_token_request", message)
}

impl CreateToken {
    fn validate(&self) -> Result<(), ApiError> {
        if self.scopes.is_empty() {
            return Err(bad("a token needs at least one scope"));
        }
        if let Some(name) = &self.name
            && (name.is_empty() || name.len() > 64 || name.chars().any(char::is_control))
        {
            return Err(bad("name: 1-64 printable characters"));
        }
        match &self.functions {
            Some(f) if f.is_empty() || f.len() > MAX_TOKEN_FUNCTIONS => {
                return Err(bad(format!(
                    "functions: 1-{MAX_TOKEN_FUNCTIONS} names, or absent for all"
                )));
            }
            Some(f) => {
                for name in f {
                    validate_name(name).map_err(|m| bad(format!("functions: {m}")))?;
                }
            }
            None if self.scopes.contains(&Scope::Invoke)
                && !self.scopes.contains(&Scope::Admin) =>
            {
                return Err(bad("an invoke token must name its functions"));
            }
            None => {}
        }
        if let Some(s) = self.expires_in_s
            && !(1..=MAX_EXPIRES_IN_S).contains(&s)
        {
            return Err(bad(format!("expires_in_s: 1-{MAX_EXPIRES_IN_S}")));
        }
        Ok(())
    }
}

/// A token record as the API shows it: never the secret or its hash.
fn shown(r: &TokenRecord) -> serde_json::Value {
    let functions: Option<Vec<String>> = r
        .functions
        .as_deref()
        .and_then(|f| serde_json::from_str(f).ok());
    json!({
        "id": r.id,
        "name": r.name,
        "scopes": r.scopes.split(',').collect::<Vec<_>>(),
        "functions": functions,
        "created_at": r.created_at,
        "expires_at": r.expires_at,
        "expired": r.expires_at.is_some_and(|t| t <= now_ms()),
        "last_used_at": r.last_used_at,
        "source": r.source,
    })
}

/// `POST /tokens`: creates a token and shows its secret, once.
pub async fn create(
    State(state): State<SharedState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    auth::require(&state, &headers, Need::Tokens).await?;
    let req: CreateToken =
        ApiError::parse_json(&body, "invalid_token_request", "{\"scopes\": [...], ...}")?;
    req.validate()?;
    let secret = auth::new_token().map_err(|e| ApiError::internal("token randomness", &e))?;
    let scopes: Vec<&str> = req.scopes.iter().map(|s| s.as_str()).collect();
    let functions = req
        .functions
        .as_ref()
        .map(|f| serde_json::to_string(f).unwrap_or_default());
    let new = NewToken {
        secret: &secret,
        name: req.name.as_deref().unwrap_or("token"),
        scopes: &scopes.join(","),
        functions: functions.as_deref(),
        expires_at: req.expires_in_s.map(|s| now_ms() + s as i64 * 1000),
        source: TokenSource::Api,
    };
    let record = state.store.add_token(&new).await?;
    let mut body = shown(&record);
    body["token"] = json!(secret);
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// `GET /tokens`.
pub async fn list(
    State(state): State<SharedState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    auth::require(&state, &headers, Need::Tokens).await?;
    let tokens: Vec<_> = state.store.list_tokens().await?.iter().map(shown).collect();
    Ok(Json(json!({ "tokens": tokens })).into_response())
}

/// `DELETE /tokens/{id}`.
pub async fn revoke(
    State(state): State<SharedState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    auth::require(&state, &headers, Need::Tokens).await?;
    if !state.store.revoke_token(&id).await? {
        let message = format!("no token with id {id:?}");
        return Err(ApiError::new(StatusCode::NOT_FOUND, "not_found", message));
    }
    state.tokens.forget(&id);
    tracing::info!(token = %id, "token revoked");
    Ok(StatusCode::NO_CONTENT.into_response())
}
