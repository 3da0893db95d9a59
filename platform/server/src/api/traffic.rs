//! `PUT /functions/{name}/traffic` (a split: `{"4": 90, "5": 10}`, or `{"weights": {...},
//! "sticky": true}`) and `DELETE /functions/{name}/traffic` (back to the active version
//! alone). See [`crate::traffic`].

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::SharedState;
use super::auth::{self, Need};
use super::error::ApiError;
use super::functions::refresh_routes;
use crate::traffic::TrafficSplit;

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "invalid_traffic", message)
}

/// The split a request body describes.
fn parse(body: &[u8]) -> Result<TrafficSplit, ApiError> {
    let v: Value = ApiError::parse_json(body, "invalid_traffic", "a JSON object")?;
    let v = if v.get("weights").is_some() {
        v
    } else {
        json!({ "weights": v })
    };
    let split: TrafficSplit = serde_json::from_value(v).map_err(|e| {
        bad(format!(
            "expected {{\"VERSION\": WEIGHT, ...}} or {{\"weights\": {{...}}, \"sticky\": true}}: {e}"
        ))
    })?;
    split.validate().map_err(bad)?;
    Ok(split)
}

/// `PUT /functions/{name}/traffic`.
pub async fn set(
    State(state): State<SharedState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    auth::require(&state, &headers, Need::Manage(&name)).await?;
    let split = parse(&body)?;
    let (_, versions) = state
        .store
        .get_function(&name)
        .await?
        .ok_or_else(|| ApiError::function_not_found(&name))?;
    for v in split.weights.keys() {
        if !versions.iter().any(|known| known.version == *v) {
            let message = format!("function {name} has no version {v}");
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "version_not_found",
                message,
            ));
        }
    }
    // Boot every named version now, so that a version that cannot run fails here, not on
    // its share of the calls.
    for &v in split.weights.keys() {
        state.scheduler.version_pool(&name, v).await?;
    }
    let json = serde_json::to_string(&split).map_err(|e| ApiError::internal("encoding", &e))?;
    state.store.set_traffic(&name, Some(&json)).await?;
    refresh_routes(&state).await?;
    tracing::info!(function = %name, traffic = %json, "traffic split");
    Ok(Json(json!({ "name": name, "traffic": split })).into_response())
}

/// `DELETE /functions/{name}/traffic`.
pub async fn clear(
    State(state): State<SharedState>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    auth::require(&state, &headers, Need::Manage(&name)).await?;
    if !state.store.set_traffic(&name, None).await? {
        return Err(ApiError::function_not_found(&name));
    }
    state.scheduler.forget_versions(&name);
    refresh_routes(&state).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
