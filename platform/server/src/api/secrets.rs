//! A function's secrets: `GET /functions/{name}/secrets` (names and update times only),
//! `PUT /functions/{name}/secrets/{secret}` (the body is the value), `DELETE
//! /functions/{name}/secrets/{secret}`, and `POST /secrets/reseal` (admin: seal every value
//! again under the first key, after a rotation). No call ever returns a value; functions get
//! them as environment variables at invoke time (see [`crate::secrets`]).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::SharedState;
use super::auth::{self, Need};
use super::error::ApiError;
use crate::secrets::SecretsError;

/// Longest secret value.
pub const MAX_SECRET_BYTES: usize = 4096;
/// Most secrets per function.
pub const MAX_SECRETS: usize = 100;

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "invalid_secret", message)
}

fn sealing(e: SecretsError) -> ApiError {
    ApiError::internal("sealing a secret", &e)
}

/// A secret name: an environment variable name, not one of Flint's own.
fn check_name(name: &str) -> Result<(), ApiError> {
    let valid = !name.is_empty()
        && name.len() <= 128
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with("FLINT_");
    if valid {
        return Ok(());
    }
    Err(bad(
        "a secret's name is an environment variable name (A-Z, 0-9, _; up to 128), not FLINT_*",
    ))
}

async fn existing(state: &SharedState, headers: &HeaderMap, name: &str) -> Result<(), ApiError> {
    auth::require(state, headers, Need::Manage(name)).await?;
    match state.store.active_version(name).await? {
        Some(_) => Ok(()),
        None => Err(ApiError::function_not_found(name)),
    }
}

/// `GET /functions/{name}/secrets`.
pub async fn list(
    State(state): State<SharedState>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    existing(&state, &headers, &name).await?;
    let secrets = state.store.list_secrets(&name).await?;
    Ok(Json(json!({ "secrets": secrets })).into_response())
}

/// `PUT /functions/{name}/secrets/{secret}`.
pub async fn set(
    State(state): State<SharedState>,
    Path((name, secret)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    existing(&state, &headers, &name).await?;
    check_name(&secret)?;
    if body.len() > MAX_SECRET_BYTES {
        return Err(ApiError::too_large("a secret", MAX_SECRET_BYTES as u64));
    }
    if std::str::from_utf8(&body).is_err() || body.contains(&0) {
        return Err(bad("a secret's value is UTF-8 text without NUL"));
    }
    let known = state.store.list_secrets(&name).await?;
    if known.len() >= MAX_SECRETS && !known.iter().any(|s| s.name == secret) {
        return Err(bad(format!("at most {MAX_SECRETS} secrets per function")));
    }
    let sealed = state
        .vault
        .ring()
        .seal(&name, &secret, &body)
        .map_err(sealing)?;
    state.store.put_secret(&name, &secret, &sealed).await?;
    state.vault.forget(&name);
    tracing::info!(function = %name, secret = %secret, "secret set");
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `DELETE /functions/{name}/secrets/{secret}`.
pub async fn delete(
    State(state): State<SharedState>,
    Path((name, secret)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    existing(&state, &headers, &name).await?;
    if !state.store.delete_secret(&name, &secret).await? {
        let message = format!("function {name} has no secret {secret:?}");
        return Err(ApiError::new(StatusCode::NOT_FOUND, "not_found", message));
    }
    state.vault.forget(&name);
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /secrets/reseal`: seals every value again under the first key of the ring.
pub async fn reseal(
    State(state): State<SharedState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    auth::require(&state, &headers, Need::Tokens).await?;
    let ring = state.vault.ring();
    let mut resealed = 0;
    for (function, name, sealed) in state.store.sealed_secrets(None).await? {
        if sealed.key_id == ring.active_id() {
            continue;
        }
        let value = ring.open(&function, &name, &sealed).map_err(|e| {
            ApiError::new(
                StatusCode::CONFLICT,
                "secret_unopenable",
                format!("secret {name} of {function}: {e}"),
            )
        })?;
        let again = ring.seal(&function, &name, &value).map_err(sealing)?;
        state.store.put_secret(&function, &name, &again).await?;
        state.vault.forget(&function);
        resealed += 1;
    }
    let body = json!({ "resealed": resealed, "key_id": ring.active_id() });
    Ok(Json(body).into_response())
}
