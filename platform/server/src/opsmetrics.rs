//! The metrics an operator runs Flint by, beside the per-invocation ones in [`crate::metrics`]:
//! build info, process figures, cold starts, compile time, deploy failures, HTTP latency,
//! the store's reachability, cache write failures, and the two kinds of guest failure kept
//! apart: WebAssembly traps (the function's bugs) and sandbox faults (platform or security
//! signals).

use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
};

fn must<T>(r: prometheus::Result<T>) -> T {
    // Metric definitions are static: a failure here is a programming error caught by tests.
    r.expect("valid metric definition")
}

/// Buckets for compile and cold-start times: 1 ms to 60 s.
const SLOW_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// The operator's metrics.
pub struct OpsMetrics {
    /// `flint_build_info{version,wasmtime}`: 1.
    pub build_info: IntGaugeVec,
    /// `flint_cold_starts_total{function}`: calls that had to load their function first.
    pub cold_starts: IntCounterVec,
    /// `flint_cold_start_duration_seconds{function}`: loading a function on the call path.
    pub cold_start_duration: HistogramVec,
    /// `flint_compile_duration_seconds`: compiling a module (cache misses only).
    pub compile_duration: Histogram,
    /// `flint_deploy_failures_total{reason}`: deploys refused, by error code.
    pub deploy_failures: IntCounterVec,
    /// `flint_http_request_duration_seconds{route}`.
    pub http_duration: HistogramVec,
    /// `flint_store_up`: 1 if the last look at the database found it answering.
    pub store_up: IntGauge,
    /// `flint_cache_write_failures_total{kind}`: cache files that could not be written (the
    /// call went on uncached).
    pub cache_write_failures: IntCounterVec,
    /// `flint_cache_evictions_total`: cache files evicted to stay within `--cache-max-bytes`.
    pub cache_evictions: prometheus::IntCounter,
    /// `flint_cache_bytes`: the cache's size after its last write.
    pub cache_bytes: IntGauge,
    /// `flint_wasm_traps_total{function,trap}`: WebAssembly traps (bugs in functions).
    pub wasm_traps: IntCounterVec,
    /// `flint_sandbox_faults_total{function,kind}`: sandbox faults and guest-runtime panics
    /// (platform or security signals), timeouts included.
    pub sandbox_faults: IntCounterVec,
}

impl OpsMetrics {
    /// The metrics, registered in `r` (with the process collector: CPU, memory, open fds).
    pub fn register(r: &Registry) -> Self {
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let c = must(IntCounterVec::new(Opts::new(name, help), labels));
            must(r.register(Box::new(c.clone())));
            c
        };
        let histogram = |name: &str, help: &str, labels: &[&str], buckets: Vec<f64>| {
            let h = must(HistogramVec::new(
                HistogramOpts::new(name, help).buckets(buckets),
                labels,
            ));
            must(r.register(Box::new(h.clone())));
            h
        };
        let build_info = must(IntGaugeVec::new(
            Opts::new(
                "flint_build_info",
                "Flint's version and its wasmtime's; always 1",
            ),
            &["version", "wasmtime"],
        ));
        must(r.register(Box::new(build_info.clone())));
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION"), flint_compiler::WASMTIME_VERSION])
            .set(1);
        let store_up = must(IntGauge::new(
            "flint_store_up",
            "1 if the database answered the last time this node looked",
        ));
        must(r.register(Box::new(store_up.clone())));
        store_up.set(1);
        must(r.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        )));
        let slow = SLOW_BUCKETS.to_vec();
        let compile_duration = must(Histogram::with_opts(
            HistogramOpts::new(
                "flint_compile_duration_seconds",
                "Time to compile a module (cache misses)",
            )
            .buckets(slow.clone()),
        ));
        must(r.register(Box::new(compile_duration.clone())));
        let cache_write_failures = counter(
            "flint_cache_write_failures_total",
            "Cache files that could not be written",
            &["kind"],
        );
        for kind in crate::cache::CacheKind::ALL {
            cache_write_failures.with_label_values(&[kind.as_str()]);
        }
        Self {
            build_info,
            cold_starts: counter(
                "flint_cold_starts_total",
                "Calls that loaded their function first",
                &["function"],
            ),
            cold_start_duration: histogram(
                "flint_cold_start_duration_seconds",
                "Time to load a function on the call path",
                &["function"],
                slow,
            ),
            compile_duration,
            deploy_failures: counter(
                "flint_deploy_failures_total",
                "Deploys refused, by error code",
                &["reason"],
            ),
            http_duration: histogram(
                "flint_http_request_duration_seconds",
                "HTTP request latency by route",
                &["route"],
                crate::metrics::latency_buckets(),
            ),
            store_up,
            cache_write_failures,
            cache_evictions: {
                let c = must(prometheus::IntCounter::new(
                    "flint_cache_evictions_total",
                    "Cache files evicted to stay within the cache's size limit",
                ));
                must(r.register(Box::new(c.clone())));
                c
            },
            cache_bytes: {
                let g = must(IntGauge::new(
                    "flint_cache_bytes",
                    "The cache's size after its last write",
                ));
                must(r.register(Box::new(g.clone())));
                g
            },
            wasm_traps: counter(
                "flint_wasm_traps_total",
                "WebAssembly traps by function and trap",
                &["function", "trap"],
            ),
            sandbox_faults: counter(
                "flint_sandbox_faults_total",
                "Sandbox faults, timeouts and guest-runtime panics by function and kind",
                &["function", "kind"],
            ),
        }
    }
}
