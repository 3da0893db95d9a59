//! `PATCH /functions/{name}/config`: changes a function's config without a new module. The
//! body is a JSON merge patch (RFC 7396) of the config: fields given replace, objects (`env`)
//! merge key by key, `null` removes a key (or resets a field to its default). The result is a
//! new version with the active version's module, so a rollback covers config changes too.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::SharedState;
use super::auth::{self, Need};
use super::error::ApiError;
use super::functions::publish;
use crate::settings::FunctionSettings;

/// Applies merge patch `patch` to `target` (RFC 7396).
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(fields) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    let Value::Object(map) = target else { return };
    for (k, v) in fields {
        if v.is_null() {
            map.remove(k);
        } else {
            merge_patch(map.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}

/// One merge patch with the effect of `first` and then `then` (nulls kept, so removals
/// survive the composition).
pub fn compose_patches(first: &mut Value, then: &Value) {
    match (first, then) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                match a.get_mut(k) {
                    Some(existing) if existing.is_object() && v.is_object() => {
                        compose_patches(existing, v)
                    }
                    _ => {
                        a.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (first, then) => *first = then.clone(),
    }
}

/// `PATCH /functions/{name}/config`.
pub async fn patch(
    State(state): State<SharedState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    auth::require(&state, &headers, Need::Manage(&name)).await?;
    let patch: Value =
        ApiError::parse_json(&body, "bad_request", "a JSON merge patch of the config")?;
    if !patch.is_object() {
        let message = "the patch must be a JSON object of config fields";
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            message,
        ));
    }
    let stored = state
        .store
        .active_module(&name)
        .await?
        .ok_or_else(|| ApiError::function_not_found(&name))?;
    let current = stored.info.settings().unwrap_or_default();
    let mut config =
        serde_json::to_value(&current).map_err(|e| ApiError::internal("encoding config", &e))?;
    merge_patch(&mut config, &patch);
    let settings = FunctionSettings::parse(config.to_string().as_bytes())?;
    let body = publish(&state, &name, stored.module, stored.files, settings).await?;
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_patch_follows_rfc_7396() {
        let mut doc = json!({"public": false, "env": {"A": "1", "B": "2"}, "routes": ["/a"]});
        merge_patch(
            &mut doc,
            &json!({"public": true, "env": {"B": null, "C": "3"}, "routes": ["/b"]}),
        );
        assert_eq!(
            doc,
            json!({"public": true, "env": {"A": "1", "C": "3"}, "routes": ["/b"]})
        );
        merge_patch(&mut doc, &json!({"public": null}));
        assert!(doc.get("public").is_none());
        let mut p = json!({"env": {"A": "9"}, "public": true});
        compose_patches(&mut p, &json!({"env": {"B": null}}));
        assert_eq!(p, json!({"env": {"A": "9", "B": null}, "public": true}));
    }
}
