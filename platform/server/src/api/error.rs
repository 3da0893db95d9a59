//! The one HTTP error boundary: every error a client sees is an [`ApiError`], rendered as
//! `{"error": {"code": "...", "message": "...", ...}}` with its status. Internal details are
//! logged here, never sent.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use flint_compiler::ValidationError;
use flint_runtime::InvokeError;

use crate::scheduler::{Failure, LoadError};
use crate::settings::SettingsError;
use crate::store::StoreError;

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code.
    pub code: &'static str,
    /// Human-readable message.
    pub message: String,
    /// Extra fields in the error object (`exit_code`, `stderr`, `field`, ...).
    pub extra: Map<String, Value>,
    /// Seconds for a `Retry-After` header.
    pub retry_after_s: Option<u64>,
}

impl ApiError {
    /// An error with no extra fields.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            extra: Map::new(),
            retry_after_s: None,
        }
    }

    /// Adds an extra field.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.extra.insert(key.to_string(), value.into());
        self
    }

    /// 404 for a function that does not exist.
    pub fn function_not_found(name: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no function named {name:?}"),
        )
    }

    /// 401 for a missing or wrong token.
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid bearer token is required (Authorization: Bearer <token>)",
        )
    }

    /// 500 for something the client cannot fix; the cause is logged, not sent.
    pub fn internal(context: &str, error: &dyn std::error::Error) -> Self {
        let chain = error_chain(error);
        tracing::error!(%chain, "{context}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("{context} failed"),
        )
    }

    /// 503 for a call or deploy that does not fit the node's memory budget.
    pub fn memory_exhausted() -> Self {
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "memory_exhausted",
            "the node has no memory left for this within its budget; retry shortly",
        );
        e.retry_after_s = Some(5);
        e
    }

    /// 400, or 413 when `status` says the body passed `limit_bytes`, for a request body (or a
    /// part of one) that could not be read: the one mapping of axum's body rejections.
    pub fn unreadable_body(
        what: &str,
        limit_bytes: usize,
        status: StatusCode,
        detail: String,
    ) -> Self {
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            Self::too_large(what, limit_bytes as u64)
        } else {
            Self::new(StatusCode::BAD_REQUEST, "bad_request", detail)
        }
    }

    /// `body` as JSON of type `T`, or a 400 with `code` that says what was `expected`.
    pub fn parse_json<T: serde::de::DeserializeOwned>(
        body: &[u8],
        code: &'static str,
        expected: &str,
    ) -> Result<T, Self> {
        serde_json::from_slice(body).map_err(|e| {
            Self::new(
                StatusCode::BAD_REQUEST,
                code,
                format!("expected {expected}: {e}"),
            )
        })
    }

    /// 503 `store_unavailable` with `Retry-After`: the database cannot be reached.
    pub fn store_unavailable(cause: &StoreError) -> Self {
        tracing::warn!(error = %error_chain(cause), "the store is unavailable");
        let mut answer = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            "the database is unavailable; warm functions still answer, retry the rest",
        );
        answer.retry_after_s = Some(5);
        answer
    }

    /// 413 for a body over a limit.
    pub fn too_large(what: &str, limit_bytes: u64) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("{what} exceeds the limit of {limit_bytes} bytes"),
        )
        .with("limit_bytes", limit_bytes)
    }
}

/// Marks an answer that found the store unreachable (a response extension), so the request
/// middleware can tell the token checks not to wait for the store meanwhile.
#[derive(Clone, Copy, Debug)]
pub struct StoreUnreachable;

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let unreachable = self.code == "store_unavailable";
        let mut error = self.extra;
        error.insert("code".into(), json!(self.code));
        error.insert("message".into(), json!(self.message));
        let mut response = (self.status, axum::Json(json!({ "error": error }))).into_response();
        if let Some(s) = self.retry_after_s {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        if unreachable {
            response.extensions_mut().insert(StoreUnreachable);
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict => Self::new(
                StatusCode::CONFLICT,
                "conflict",
                "a concurrent change to this function won; retry",
            ),
            e if e.unavailable() => Self::store_unavailable(&e),
            other => Self::internal("database access", &other),
        }
    }
}

impl From<&LoadError> for ApiError {
    fn from(e: &LoadError) -> Self {
        match e {
            LoadError::MemoryExhausted => Self::memory_exhausted(),
            LoadError::Store(e) if e.unavailable() => Self::store_unavailable(e),
            e => Self::internal("loading the function", e),
        }
    }
}

impl From<LoadError> for ApiError {
    fn from(e: LoadError) -> Self {
        Self::from(&e)
    }
}

impl From<SettingsError> for ApiError {
    fn from(e: SettingsError) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_config", e.to_string()).with("field", e.field)
    }
}

impl From<ValidationError> for ApiError {
    fn from(e: ValidationError) -> Self {
        let reason = match e {
            ValidationError::TooLarge { .. } => "module_too_large",
            ValidationError::NotWasm => "not_wasm",
            ValidationError::ComponentImport { .. } => "unknown_import",
            ValidationError::ComponentExport { .. } => "missing_entry",
            ValidationError::Invalid(_) => "invalid_wasm",
            ValidationError::UnknownImport { .. } => "unknown_import",
            ValidationError::ImportSignature { .. } => "import_signature",
            ValidationError::UnsupportedImport { .. } => "unsupported_import",
            ValidationError::MissingEntry { .. } => "missing_entry",
            ValidationError::EntrySignature { .. } => "entry_signature",
            ValidationError::MissingMemoryExport => "missing_memory_export",
            ValidationError::MemoryTooLarge { .. } => "memory_too_large",
            ValidationError::UnsupportedMemory(_) => "unsupported_memory",
        };
        Self::new(StatusCode::BAD_REQUEST, "invalid_module", e.to_string())
            .with("reason", reason)
            .with("field", "module")
    }
}

impl From<Failure> for ApiError {
    fn from(f: Failure) -> Self {
        Self::from(&f)
    }
}

impl From<&Failure> for ApiError {
    /// The answer for a call that did not run (the faults of one that did are the
    /// [`crate::outcome::Outcome`]'s).
    fn from(f: &Failure) -> Self {
        match f {
            Failure::NotFound { name } => Self::function_not_found(name),
            Failure::Overloaded { queue_full } => {
                let (status, message) = if *queue_full {
                    (
                        StatusCode::TOO_MANY_REQUESTS,
                        "too many invocations are waiting",
                    )
                } else {
                    (
                        StatusCode::SERVICE_UNAVAILABLE,
                        "no free slot within the queue deadline",
                    )
                };
                let mut e = Self::new(status, "overloaded", message);
                e.retry_after_s = Some(1);
                e
            }
            Failure::Load(e) => e.into(),
            Failure::MemoryExhausted => Self::memory_exhausted(),
            Failure::Invoke(InvokeError::StdinTooLarge { limit_bytes, .. }) => {
                Self::too_large("the request body", *limit_bytes)
            }
            Failure::Invoke(e) => Self::internal("running the function", e),
        }
    }
}

/// `error: source: source ...`, the whole chain on one line.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut chain = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        chain.push_str(": ");
        chain.push_str(&s.to_string());
        source = s.source();
    }
    chain
}
