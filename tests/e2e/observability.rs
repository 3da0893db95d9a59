//! What operators are given to watch Flint by: every metric the Grafana dashboard
//! (`deploy/grafana/flint.json`) and the alert rules (`deploy/prometheus/flint.rules.yml`)
//! name is one a real server exports, once it has seen ordinary traffic.

use std::collections::BTreeSet;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{Backend, Server};
use flint_test_modules::c_module;

/// Metric names in `text`: the identifiers that start with `flint_` or `process_`.
fn metric_names(text: &str) -> BTreeSet<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with("flint_") || w.starts_with("process_"))
        .map(str::to_string)
        .collect()
}

/// The series names a `/metrics` text declares (histograms with their `_bucket`, `_sum`
/// and `_count`).
fn exported(metrics: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in metrics.lines() {
        let mut words = line.split_whitespace();
        if let (Some("#"), Some("TYPE"), Some(name), Some(kind)) =
            (words.next(), words.next(), words.next(), words.next())
        {
            names.insert(name.to_string());
            if kind == "histogram" {
                for suffix in ["_bucket", "_sum", "_count"] {
                    names.insert(format!("{name}{suffix}"));
                }
            }
        }
    }
    names
}

pub fn dashboards_and_alerts_use_real_metrics(b: Backend) {
    let mut s = Server::start(b);
    let deploy = |name: &str, module: &str, config: Value| {
        let r = s.deploy(name, &c_module(module), &config);
        assert_eq!(r.status(), StatusCode::CREATED);
    };
    deploy("ok", "echo", json!({}));
    deploy("trap", "trap", json!({}));
    deploy("spin", "loop", json!({"timeout_ms": 200}));
    s.restart();
    let refused = s.deploy("bad", b"not wasm", &json!({}));
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    for name in ["ok", "trap", "spin"] {
        let _ = s.invoke(name, b"x");
    }
    let have = exported(&s.metrics());
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy");
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{root}/grafana/flint.json")).unwrap(),
    )
    .unwrap();
    let mut queries = String::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            queries += target["expr"].as_str().unwrap();
            queries.push('\n');
        }
    }
    let rules = std::fs::read_to_string(format!("{root}/prometheus/flint.rules.yml")).unwrap();
    for (what, text) in [
        ("the Grafana dashboard", &queries),
        ("the alert rules", &rules),
    ] {
        let used = metric_names(text);
        assert!(used.len() >= 8, "{what} names {} metrics", used.len());
        let missing: Vec<_> = used.difference(&have).collect();
        assert!(
            missing.is_empty(),
            "{what} uses metrics Flint does not export: {missing:?}"
        );
    }
}
