//! Managing functions: deploy, list, show, delete, rollback, logs and invocation records.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Multipart, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::SharedState;
use super::auth::{self, Need};
use super::error::{ApiError, error_chain};
use crate::outcome::OutcomeKind;
use crate::scheduler::LoadError;
use crate::settings::{FunctionSettings, validate_name};
use crate::store::{FunctionSummary, InvocationRecord, VersionInfo, now_ms};

fn check_name(name: &str) -> Result<(), ApiError> {
    validate_name(name).map_err(|m| ApiError::new(StatusCode::BAD_REQUEST, "invalid_name", m))
}

fn upload_error(limit: usize) -> impl Fn(StatusCode, String) -> ApiError {
    move |status, detail| ApiError::unreadable_body("the upload", limit, status, detail)
}

/// What a deploy brings: a module, and perhaps a config and a tar archive of files.
#[derive(Debug, Default)]
pub struct Upload {
    /// The `.wasm` bytes.
    pub module: Vec<u8>,
    /// The `config` part.
    pub settings: Option<FunctionSettings>,
    /// The `files` part (a tar archive).
    pub files: Option<Vec<u8>>,
}

/// Reads a deploy body: raw `.wasm`, or `multipart/form-data` with a `module` part, an
/// optional `config` part (JSON) and an optional `files` part (a tar archive).
async fn read_upload(state: &SharedState, request: Request) -> Result<Upload, ApiError> {
    let limit = state.limits.max_module_bytes + state.limits.max_files_bytes;
    let is_multipart = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    if !is_multipart {
        let body = Bytes::from_request(request, state)
            .await
            .map_err(|e| upload_error(limit)(e.status(), e.body_text()))?;
        return Ok(Upload {
            module: body.to_vec(),
            ..Upload::default()
        });
    }
    let multipart = Multipart::from_request(request, state)
        .await
        .map_err(|e| upload_error(limit)(e.status(), e.body_text()))?;
    read_form(multipart, limit).await
}

/// The `module`, `config` and `files` parts of a multipart deploy.
async fn read_form(mut multipart: Multipart, limit: usize) -> Result<Upload, ApiError> {
    let (mut module, mut settings, mut files) = (None, None, None);
    loop {
        let field = multipart
            .next_field()
            .await
            .map_err(|e| upload_error(limit)(e.status(), e.body_text()))?;
        let Some(field) = field else { break };
        let name = field.name().unwrap_or_default().to_string();
        let data = field
            .bytes()
            .await
            .map_err(|e| upload_error(limit)(e.status(), e.body_text()))?;
        match name.as_str() {
            "module" => module = Some(data.to_vec()),
            "config" => settings = Some(FunctionSettings::parse(&data)?),
            "files" => files = Some(data.to_vec()),
            other => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    format!("unexpected form field {other:?} (expected module, config, files)"),
                ));
            }
        }
    }
    let module = module.ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "the form has no module part",
        )
    })?;
    Ok(Upload {
        module,
        settings,
        files,
    })
}

/// Boundary of the bodies [`parse_upload`] reads.
pub const FUZZ_BOUNDARY: &str = "flintfuzz";

/// Reads `body` as a multipart deploy with boundary [`FUZZ_BOUNDARY`], as a deploy does (for the
/// fuzz targets): the parts or the error a client would get, never a panic.
pub async fn parse_upload(body: Vec<u8>) -> Result<Upload, ApiError> {
    let content_type = format!("multipart/form-data; boundary={FUZZ_BOUNDARY}");
    let request = axum::http::Request::builder()
        .header(header::CONTENT_TYPE, content_type)
        .body(axum::body::Body::from(body))
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_request", e.to_string()))?;
    let multipart = Multipart::from_request(request, &())
        .await
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_request", e.body_text()))?;
    read_form(multipart, 32 << 20).await
}

/// The 400 for a boot failure that is the deploy's own doing: the module's initialisation
/// failed, or its compiled code and memory limit do not fit the guest's address space.
fn deploy_refusal(e: &LoadError) -> Option<ApiError> {
    use flint_runtime::RuntimeError;
    match e {
        LoadError::Boot(RuntimeError::Boot(boot)) => Some(ApiError::new(
            StatusCode::BAD_REQUEST,
            "init_failed",
            error_chain(boot),
        )),
        LoadError::Boot(RuntimeError::Build(flint_vmm::BuildError::Layout(layout))) => Some(
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_config",
                format!("memory_limit_mb: the compiled module and its memory do not fit: {layout}"),
            )
            .with("field", "memory_limit_mb"),
        ),
        _ => None,
    }
}

/// `PUT /functions/{name}`: deploys a new immutable version. A deploy that brings only a
/// module keeps the active version's config (defaults for a new function); one with a config
/// part replaces it.
pub async fn deploy(
    State(state): State<SharedState>,
    Path(name): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    auth::require(&state, request.headers(), Need::Manage(&name)).await?;
    check_name(&name)?;
    let Upload {
        module,
        settings: given,
        files,
    } = read_upload(&state, request).await?;
    if module.len() > state.limits.max_module_bytes {
        return Err(ApiError::too_large(
            "the module",
            state.limits.max_module_bytes as u64,
        ));
    }
    let kept = given.is_none();
    let settings = match given {
        Some(s) => s,
        None => active_settings(&state, &name).await?.unwrap_or_default(),
    };
    let files = files.map(|tar| bundle_image(&state, &tar)).transpose()?;
    let mut body = publish(&state, &name, module, files, settings).await?;
    body["config_kept"] = json!(kept);
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// The image of a deploy's `files` archive: 413 over the server's limit, 400 for an archive
/// that is not one or holds what a bundle cannot.
fn bundle_image(state: &SharedState, tar: &[u8]) -> Result<Vec<u8>, ApiError> {
    use flint_runtime::bundle::{BundleError, BundleLimits, image_from_tar};
    let max = state.limits.max_files_bytes;
    if tar.len() > max {
        return Err(ApiError::too_large("the files archive", max as u64));
    }
    let limits = BundleLimits {
        max_bytes: max as u64,
        ..BundleLimits::default()
    };
    image_from_tar(tar, limits).map_err(|e| match e {
        BundleError::TooLarge { limit_bytes } => ApiError::too_large("the files", limit_bytes),
        other => ApiError::new(StatusCode::BAD_REQUEST, "invalid_files", other.to_string()),
    })
}

/// `publish`, with refusals counted in `flint_deploy_failures_total{reason}`.
pub async fn publish(
    state: &SharedState,
    name: &str,
    module: Vec<u8>,
    files: Option<Vec<u8>>,
    settings: FunctionSettings,
) -> Result<Value, ApiError> {
    let published = publish_version(state, name, module, files, settings).await;
    if let Err(e) = &published {
        let failures = &state.metrics.ops.deploy_failures;
        failures.with_label_values(&[e.code]).inc();
    }
    published
}

/// The active version's settings of `name`, if it has one with readable settings.
pub async fn active_settings(
    state: &SharedState,
    name: &str,
) -> Result<Option<FunctionSettings>, ApiError> {
    let active = state.store.active_version(name).await?;
    Ok(active.and_then(|v| settings_of(name, &v)))
}

/// Validates, compiles and boots `module` with `settings`, then stores it as the new active
/// version of `name` and switches to it; nothing is stored if any step fails. The answer's
/// JSON describes the version.
async fn publish_version(
    state: &SharedState,
    name: &str,
    module: Vec<u8>,
    files: Option<Vec<u8>>,
    settings: FunctionSettings,
) -> Result<Value, ApiError> {
    settings.validate()?;
    let dirs = files
        .as_deref()
        .map(flint_runtime::bundle::directories)
        .unwrap_or_default();
    settings.check_mounts(&dirs)?;
    let files_bytes = files.as_ref().map_or(0, |f| f.len().next_multiple_of(4096));
    state
        .scheduler
        .check_fits(&settings, module.len() + files_bytes)?;
    if let Some((route, other)) = state.routes.conflict(name, &settings.routes) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "route_conflict",
            format!("route {route} is already served by function {other}"),
        )
        .with("field", "routes"));
    }
    let limits = settings.module_limits(state.limits.max_module_bytes);
    state.compiler.validate(&module, &limits)?;
    let sha256 = flint_compiler::sha256_hex(&module);
    let prepared = state
        .scheduler
        .prepare(
            name,
            settings.clone(),
            &sha256,
            module.clone(),
            files.clone(),
        )
        .await
        .map_err(|e| deploy_refusal(&e).unwrap_or_else(|| e.into()))?;
    let config =
        serde_json::to_string(&settings).map_err(|e| ApiError::internal("encoding config", &e))?;
    let version = state
        .store
        .create_version(name, &sha256, &module, files.as_deref(), &config)
        .await?;
    state.scheduler.install(prepared.into_pool(name, version));
    state.metrics.deploys.inc();
    refresh_routes(state).await?;
    tracing::info!(function = %name, version, %sha256, "deployed");
    Ok(json!({
        "name": name,
        "version": version,
        "sha256": sha256,
        "size_bytes": module.len(),
        "files_bytes": files.as_ref().map_or(0, Vec::len),
        "config": settings,
    }))
}

/// Rebuilds the route table and the traffic splits from the store; the pools of versions a
/// split no longer names are dropped.
pub async fn refresh_routes(state: &SharedState) -> Result<(), ApiError> {
    let mut routes = Vec::new();
    let mut splits = std::collections::HashMap::new();
    for f in state.store.list_functions().await? {
        if let Some(s) = f.active.as_ref().and_then(|a| settings_of(&f.name, a)) {
            routes.extend(s.routes.into_iter().map(|r| (r, f.name.clone())));
        }
        let split: Option<crate::traffic::TrafficSplit> = f
            .traffic
            .as_deref()
            .and_then(|t| serde_json::from_str(t).ok());
        let named: Vec<i64> = split
            .iter()
            .flat_map(|s| s.weights.keys().copied())
            .collect();
        state.scheduler.keep_versions(&f.name, &named);
        if let Some(split) = split {
            splits.insert(f.name.clone(), std::sync::Arc::new(split));
        }
    }
    state.routes.replace(routes);
    state.traffic.replace(splits);
    Ok(())
}

/// A stored version's settings; unreadable ones (a store written by another version of
/// Flint) are logged and treated as absent, so one bad row cannot hide every other function.
fn settings_of(name: &str, version: &VersionInfo) -> Option<FunctionSettings> {
    version
        .settings()
        .inspect_err(|e| {
            tracing::warn!(function = %name, version = version.version, error = %e, "stored settings are invalid");
        })
        .ok()
}

/// Calls, errors and latency percentiles over recent invocation records.
fn stats(records: &[InvocationRecord]) -> Value {
    let mut durations: Vec<i64> = records.iter().map(|r| r.duration_us).collect();
    durations.sort_unstable();
    let pct = |q: f64| {
        if durations.is_empty() {
            None
        } else {
            Some(durations[((durations.len() - 1) as f64 * q).round() as usize])
        }
    };
    let ok = OutcomeKind::Ok.as_str();
    let errors = records.iter().filter(|r| r.outcome != ok).count();
    json!({
        "calls": records.len(),
        "errors": errors,
        "p50_us": pct(0.5),
        "p99_us": pct(0.99),
    })
}

async fn summary_json(state: &SharedState, f: &FunctionSummary) -> Result<Value, ApiError> {
    let hour_ago = now_ms() - 3_600_000;
    let recent = state
        .store
        .recent_invocations(&f.name, hour_ago, 10_000)
        .await?;
    let settings = f.active.as_ref().and_then(|a| settings_of(&f.name, a));
    Ok(json!({
        "name": f.name,
        "version": f.active.as_ref().map(|a| a.version),
        "sha256": f.active.as_ref().map(|a| &a.sha256),
        "size_bytes": f.active.as_ref().map(|a| a.size_bytes),
        "files_bytes": f.active.as_ref().map(|a| a.files_bytes),
        "public": settings.as_ref().map(|s| s.public),
        "routes": settings.as_ref().map(|s| &s.routes),
        "config": settings,
        "traffic": f.traffic.as_deref().and_then(|t| serde_json::from_str::<Value>(t).ok()),
        "created_at": f.created_at,
        "updated_at": f.updated_at,
        "last_hour": stats(&recent),
    }))
}

/// `GET /functions`.
pub async fn list(
    State(state): State<SharedState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let caller = auth::require(&state, &headers, Need::List).await?;
    let mut out = Vec::new();
    for f in state.store.list_functions().await? {
        if !caller.covers(&f.name) {
            continue;
        }
        out.push(summary_json(&state, &f).await?);
    }
    Ok(Json(json!({ "functions": out })).into_response())
}

/// `GET /functions/{name}`.
pub async fn show(
    State(state): State<SharedState>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    auth::require(&state, &headers, Need::Manage(&name)).await?;
    let (f, versions) = state
        .store
        .get_function(&name)
        .await?
        .ok_or_else(|| ApiError::function_not_found(&name))?;
    let mut body = summary_json(&state, &f).await?;
    let versions: Vec<Value> = versions
        .iter()
        .map(|v| {
            json!({
                "version": v.version,
                "sha256": v.sha256,
                "size_bytes": v.size_bytes,
                "files_bytes": v.files_bytes,
                "created_at": v.created_at,
                "active": f.active.as_ref().map(|a| a.version) == Some(v.version),
                "config": settings_of(&name, v),
            })
        })
        .collect();
    body["versions"] = Value::Array(versions);
    body["faults"] = json!(state.metrics.faults_for(&name));
    Ok(Json(body).into_response())
}

/// `DELETE /functions/{name}`.
pub async fn delete(
    State(state): State<SharedState>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    auth::require(&state, &headers, Need::Manage(&name)).await?;
    if !state.store.delete_function(&name).await? {
        return Err(ApiError::function_not_found(&name));
    }
    state.scheduler.remove(&name);
    state.metrics.forget_function(&name);
    refresh_routes(&state).await?;
    tracing::info!(function = %name, "deleted");
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Body of a rollback.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RollbackBody {
    version: i64,
}

/// `POST /functions/{name}/rollback` with `{"version": N}`.
pub async fn rollback(
    State(state): State<SharedState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    auth::require(&state, &headers, Need::Manage(&name)).await?;
    let body: RollbackBody = ApiError::parse_json(&body, "bad_request", "{\"version\": N}")?;
    if state.store.get_function(&name).await?.is_none() {
        return Err(ApiError::function_not_found(&name));
    }
    let version_not_found = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "version_not_found",
            format!("function {name} has no version {}", body.version),
        )
    };
    let stored = state
        .store
        .version_module(&name, body.version)
        .await?
        .ok_or_else(version_not_found)?;
    // Boot first: a version that no longer boots (or fits) leaves the function as it was.
    let pool = state
        .scheduler
        .build_pool(&name, stored)
        .await
        .map_err(|e| deploy_refusal(&e).unwrap_or_else(|| e.into()))?;
    if !state.store.set_active(&name, body.version).await? {
        return Err(version_not_found());
    }
    state.scheduler.install(pool);
    refresh_routes(&state).await?;
    tracing::info!(function = %name, version = body.version, "rolled back");
    Ok(Json(json!({ "name": name, "version": body.version })).into_response())
}

/// The `{name}` of an existing function, for a caller who may manage it.
pub struct Existing(pub String);

impl FromRequestParts<SharedState> for Existing {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &SharedState) -> Result<Self, ApiError> {
        let Path(name) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_request", e.body_text()))?;
        auth::require(state, &parts.headers, Need::Manage(&name)).await?;
        match state.store.get_function(&name).await? {
            Some(_) => Ok(Self(name)),
            None => Err(ApiError::function_not_found(&name)),
        }
    }
}

/// Query of the record endpoints.
#[derive(Deserialize)]
pub struct RecordQuery {
    limit: Option<i64>,
    since_ms: Option<i64>,
}

/// `GET /functions/{name}/invocations?since_ms=T&limit=N`: recent invocation records, newest
/// first (the dashboard's charts are drawn from these).
pub async fn invocations(
    State(state): State<SharedState>,
    Existing(name): Existing,
    Query(q): Query<RecordQuery>,
) -> Result<Response, ApiError> {
    let limit = q.limit.unwrap_or(1000).clamp(1, 10_000);
    let since = q.since_ms.unwrap_or(0);
    let records = state.store.recent_invocations(&name, since, limit).await?;
    Ok(Json(json!({ "invocations": records, "stats": stats(&records) })).into_response())
}
