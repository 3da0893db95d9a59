//! `GET /api/meta`: the labels, lists and defaults a client shows, from the one definition of
//! each (so the dashboard hard-codes none of them). Static, and public: nothing here depends on
//! a function or a token.

use axum::Json;
use axum::response::{IntoResponse, Response};
use flint_abi::message::LogLevel;
use serde_json::{Value, json};

use super::auth::Scope;
use crate::outcome::{FaultLabel, OutcomeKind};
use crate::settings::{self, FunctionSettings};
use crate::store::LogStream;

fn range<T: Copy + Into<Value>>(r: &std::ops::RangeInclusive<T>) -> Value {
    json!({ "min": (*r.start()).into(), "max": (*r.end()).into() })
}

/// The whole document.
pub fn document() -> Value {
    let group = |want: fn(&FaultLabel) -> bool| -> Vec<&'static str> {
        FaultLabel::all()
            .filter(want)
            .map(FaultLabel::as_str)
            .collect()
    };
    json!({
        "outcomes": OutcomeKind::ALL.map(OutcomeKind::as_str),
        "outcome_ok": OutcomeKind::Ok.as_str(),
        "fault_kinds": {
            "vm": group(|f| matches!(f, FaultLabel::Vm(_))),
            "trap": group(|f| matches!(f, FaultLabel::Trap(_))),
            "guest": group(|f| matches!(f, FaultLabel::GuestPanic)),
        },
        "log_levels": LogLevel::ALL.map(LogLevel::as_str),
        "log_streams": LogStream::ALL.map(LogStream::as_str),
        "reserved_route_prefixes": settings::RESERVED_PREFIXES,
        "token_scopes": Scope::ALL.map(Scope::as_str),
        "settings": {
            "defaults": FunctionSettings::default(),
            "bounds": {
                "memory_limit_mb": range(&settings::MEMORY_LIMIT_MB),
                "timeout_ms": range(&settings::TIMEOUT_MS),
                "max_concurrency": range(&settings::MAX_CONCURRENCY),
                "kv_max_keys": range(&settings::KV_MAX_KEYS),
                "kv_max_bytes": range(&settings::KV_MAX_BYTES),
                "max_output_bytes": range(&settings::MAX_OUTPUT_BYTES),
                "scratch_max_mb": range(&settings::SCRATCH_MAX_MB),
                "outbound_timeout_ms": range(&settings::TIMEOUT_MS),
            },
        },
    })
}

/// `GET /api/meta`.
pub async fn meta() -> Response {
    Json(document()).into_response()
}

#[cfg(test)]
mod tests {
    #[test]
    fn lists_come_from_the_types() {
        let d = super::document();
        assert_eq!(d["outcomes"][0], "ok");
        assert_eq!(d["log_levels"][3], "warn");
        assert!(d["fault_kinds"]["vm"].as_array().unwrap().len() >= 10);
        assert_eq!(d["fault_kinds"]["guest"][0], "guest_panic");
        assert_eq!(d["settings"]["defaults"]["memory_limit_mb"], 64);
        assert_eq!(d["settings"]["bounds"]["timeout_ms"]["max"], 900_000);
        assert_eq!(d["token_scopes"][1], "deploy");
        assert_eq!(d["settings"]["defaults"]["kv_max_keys"], 10_000);
        assert_eq!(d["settings"]["defaults"]["scratch_max_mb"], 16);
        assert_eq!(d["settings"]["bounds"]["scratch_max_mb"]["max"], 256);
    }
}
