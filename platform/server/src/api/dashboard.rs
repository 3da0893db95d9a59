//! The web dashboard (`web/`), embedded in the binary: one HTML page, ES modules and one
//! stylesheet, no external resources. It uses only the public HTTP API.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

const INDEX: &str = include_str!("../../../../web/index.html");
const JS: &str = "text/javascript; charset=utf-8";

/// Every asset under `/assets/`: path, body, content type.
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "app.css",
        include_str!("../../../../web/app.css"),
        "text/css; charset=utf-8",
    ),
    ("app.js", include_str!("../../../../web/app.js"), JS),
    ("api.js", include_str!("../../../../web/api.js"), JS),
    ("state.js", include_str!("../../../../web/state.js"), JS),
    ("dom.js", include_str!("../../../../web/dom.js"), JS),
    ("charts.js", include_str!("../../../../web/charts.js"), JS),
    (
        "views/signin.js",
        include_str!("../../../../web/views/signin.js"),
        JS,
    ),
    (
        "views/list.js",
        include_str!("../../../../web/views/list.js"),
        JS,
    ),
    (
        "views/deploy.js",
        include_str!("../../../../web/views/deploy.js"),
        JS,
    ),
    (
        "views/function.js",
        include_str!("../../../../web/views/function.js"),
        JS,
    ),
    (
        "views/manage.js",
        include_str!("../../../../web/views/manage.js"),
        JS,
    ),
    (
        "views/tail.js",
        include_str!("../../../../web/views/tail.js"),
        JS,
    ),
];

fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'self'; img-src 'self' data:; style-src 'self'"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

/// `GET /`.
pub async fn index() -> Response {
    asset(INDEX, "text/html; charset=utf-8")
}

/// `GET /assets/{*path}`.
pub async fn assets(Path(path): Path<String>) -> Response {
    match ASSETS.iter().find(|(p, _, _)| *p == path) {
        Some((_, body, content_type)) => asset(body, content_type),
        None => super::error::ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no asset {path:?}"),
        )
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    /// Every module the dashboard imports is served (a missing one would break it silently).
    #[test]
    fn every_imported_module_is_served() {
        for (path, body, _) in super::ASSETS {
            for line in body.lines().filter(|l| l.starts_with("import ")) {
                let Some(spec) = line.split('"').nth(1) else {
                    continue;
                };
                let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
                let mut parts: Vec<&str> = dir.split('/').filter(|p| !p.is_empty()).collect();
                for seg in spec.split('/') {
                    match seg {
                        "." => {}
                        ".." => {
                            parts.pop();
                        }
                        s => parts.push(s),
                    }
                }
                let target = parts.join("/");
                assert!(
                    super::ASSETS.iter().any(|(p, _, _)| *p == target),
                    "{path} imports {spec}, which is not served"
                );
            }
        }
    }
}
