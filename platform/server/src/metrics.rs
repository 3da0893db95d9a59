//! Prometheus metrics, registered once in one registry.

use std::time::Duration;

use flint_abi::host_fn::KvError;
use flint_vmm::FaultKind;
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::outcome::{FaultLabel, Outcome, OutcomeKind};

/// Sandbox states, as the `state` label.
pub const SANDBOX_STATES: &[&str] = &["idle", "busy"];

/// Latency buckets that resolve microseconds: 25 us doubling up to about 26 s, then 30 s.
pub fn latency_buckets() -> Vec<f64> {
    let mut b: Vec<f64> = (0..21).map(|i| 25e-6 * f64::from(1u32 << i)).collect();
    b.push(30.0);
    b
}

/// Flint's metrics.
pub struct Metrics {
    registry: Registry,
    /// `flint_invocations_total{function,outcome}`.
    pub invocations: IntCounterVec,
    /// `flint_invocation_duration_seconds{function}`.
    pub invocation_duration: HistogramVec,
    /// `flint_snapshot_restore_duration_seconds`.
    pub restore_duration: Histogram,
    /// `flint_stack_guard_violations_total{function}`.
    pub stack_guard_violations: IntCounterVec,
    /// `flint_guest_faults_total{function,kind}`.
    pub guest_faults: IntCounterVec,
    /// `flint_sandboxes{function,state}`.
    pub sandboxes: IntGaugeVec,
    /// `flint_queue_wait_seconds`.
    pub queue_wait: Histogram,
    /// `flint_deploys_total`.
    pub deploys: IntCounter,
    /// `flint_http_requests_total{route,code}`.
    pub http_requests: IntCounterVec,
    /// `flint_records_dropped_total`: invocation records and logs not written (store too slow).
    pub records_dropped: IntCounter,
    /// `flint_memory_bytes{kind}`: memory held by snapshots, idle and busy sandboxes.
    pub memory: IntGaugeVec,
    /// `flint_memory_budget_bytes`: the node's memory budget.
    pub memory_budget: prometheus::IntGauge,
    /// `flint_memory_evictions_total{kind}`: idle sandboxes and whole functions (snapshot and
    /// sandboxes) evicted to stay within the budget.
    pub memory_evictions: IntCounterVec,
    /// `flint_memory_rejections_total`: calls and deploys refused because they could not fit.
    pub memory_rejections: IntCounter,
    /// `flint_cache_rejections_total{kind}`: cache files (artefacts, snapshots) whose seal did
    /// not hold, rebuilt.
    pub cache_rejections: IntCounterVec,
    /// `flint_stack_cookie_violations_total{function}`: calls that overwrote the stack cookie
    /// (also counted in `flint_stack_guard_violations_total`).
    pub stack_cookie_violations: IntCounterVec,
    /// `flint_kv_rejections_total{function,reason}`: key-value calls answered with an error
    /// code (`too_large`, `quota_exceeded`, `store_error`).
    pub kv_rejections: IntCounterVec,
    /// `flint_version_invocations_total{function,version}`: calls by the version that
    /// served them (traffic splits).
    pub version_invocations: IntCounterVec,
    /// `flint_outbound_requests_total{function,result}`: outbound HTTP requests, `ok` or why
    /// not (`not_allowed`, `bad_request`, `failed`, `timeout`, `too_large`).
    pub outbound_requests: IntCounterVec,
    /// `flint_outbound_request_duration_seconds{function}`: how long outbound requests took.
    pub outbound_duration: HistogramVec,
    /// The operator's metrics (build, process, cold starts, HTTP latency, store, traps and
    /// sandbox faults apart).
    pub ops: crate::opsmetrics::OpsMetrics,
    /// The versions each function has a `flint_version_invocations_total` series for.
    versions_seen:
        std::sync::Mutex<std::collections::HashMap<String, std::collections::BTreeSet<i64>>>,
}

/// Memory kinds, as the `kind` label of `flint_memory_bytes`, in `MemoryKind`'s order.
pub const MEMORY_KINDS: [&str; 3] = ["snapshots", "idle_sandboxes", "busy_sandboxes"];
/// Eviction kinds, as the `kind` label of `flint_memory_evictions_total`.
pub const EVICTION_KINDS: &[&str] = &["idle_sandbox", "function"];

fn must<T>(r: prometheus::Result<T>) -> T {
    // Metric definitions are static: a failure here is a programming error caught by tests.
    r.expect("valid metric definition")
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Self {
        let registry = Registry::new();
        let ops = crate::opsmetrics::OpsMetrics::register(&registry);
        let latency =
            |name: &str, help: &str| HistogramOpts::new(name, help).buckets(latency_buckets());
        let invocations = must(IntCounterVec::new(
            Opts::new(
                "flint_invocations_total",
                "Invocations by function and outcome",
            ),
            &["function", "outcome"],
        ));
        let invocation_duration = must(HistogramVec::new(
            latency(
                "flint_invocation_duration_seconds",
                "Invocation latency, end to end",
            ),
            &["function"],
        ));
        let restore_duration = must(Histogram::with_opts(latency(
            "flint_snapshot_restore_duration_seconds",
            "Time to restore a sandbox to its snapshot",
        )));
        let stack_guard_violations = must(IntCounterVec::new(
            Opts::new(
                "flint_stack_guard_violations_total",
                "Guest stack overflows into the guard page",
            ),
            &["function"],
        ));
        let guest_faults = must(IntCounterVec::new(
            Opts::new(
                "flint_guest_faults_total",
                "Guest faults, timeouts and traps by kind",
            ),
            &["function", "kind"],
        ));
        let sandboxes = must(IntGaugeVec::new(
            Opts::new("flint_sandboxes", "Sandboxes by function and state"),
            &["function", "state"],
        ));
        let queue_wait = must(Histogram::with_opts(latency(
            "flint_queue_wait_seconds",
            "Time invocations wait for a free slot",
        )));
        let deploys = must(IntCounter::new("flint_deploys_total", "Successful deploys"));
        let http_requests = must(IntCounterVec::new(
            Opts::new(
                "flint_http_requests_total",
                "HTTP requests by route and status code",
            ),
            &["route", "code"],
        ));
        let records_dropped = must(IntCounter::new(
            "flint_records_dropped_total",
            "Invocation records and log lines dropped because the store fell behind",
        ));
        let memory = must(IntGaugeVec::new(
            Opts::new(
                "flint_memory_bytes",
                "Memory held by snapshots, idle sandboxes and busy sandboxes (busy: reserved)",
            ),
            &["kind"],
        ));
        let memory_budget = must(prometheus::IntGauge::new(
            "flint_memory_budget_bytes",
            "The node's memory budget for snapshots and sandboxes",
        ));
        let memory_evictions = must(IntCounterVec::new(
            Opts::new(
                "flint_memory_evictions_total",
                "Idle sandboxes and functions evicted to stay within the memory budget",
            ),
            &["kind"],
        ));
        let memory_rejections = must(IntCounter::new(
            "flint_memory_rejections_total",
            "Calls and deploys refused because they could not fit the memory budget",
        ));
        let cache_rejections = must(IntCounterVec::new(
            Opts::new(
                "flint_cache_rejections_total",
                "Cache files (compiled artefacts, snapshots) rejected because their seal did not hold",
            ),
            &["kind"],
        ));
        for k in crate::cache::CacheKind::ALL {
            cache_rejections.with_label_values(&[k.as_str()]);
        }
        let stack_cookie_violations = must(IntCounterVec::new(
            Opts::new(
                "flint_stack_cookie_violations_total",
                "Calls that overwrote the guest stack cookie (a stack overflow past the guard)",
            ),
            &["function"],
        ));
        let kv_rejections = must(IntCounterVec::new(
            Opts::new(
                "flint_kv_rejections_total",
                "Key-value calls answered with an error code, by reason",
            ),
            &["function", "reason"],
        ));
        let version_invocations = must(IntCounterVec::new(
            Opts::new(
                "flint_version_invocations_total",
                "Invocations by the function version that served them",
            ),
            &["function", "version"],
        ));
        let outbound_requests = must(IntCounterVec::new(
            Opts::new(
                "flint_outbound_requests_total",
                "Outbound HTTP requests of functions, by result",
            ),
            &["function", "result"],
        ));
        let outbound_duration = must(HistogramVec::new(
            HistogramOpts::new(
                "flint_outbound_request_duration_seconds",
                "Time outbound HTTP requests of functions took",
            )
            .buckets(latency_buckets()),
            &["function"],
        ));
        for k in MEMORY_KINDS {
            memory.with_label_values(&[k]);
        }
        for k in EVICTION_KINDS {
            memory_evictions.with_label_values(&[k]);
        }
        let m = Self {
            registry,
            invocations,
            invocation_duration,
            restore_duration,
            stack_guard_violations,
            guest_faults,
            sandboxes,
            queue_wait,
            deploys,
            http_requests,
            records_dropped,
            memory,
            memory_budget,
            memory_evictions,
            memory_rejections,
            cache_rejections,
            stack_cookie_violations,
            kv_rejections,
            version_invocations,
            outbound_requests,
            outbound_duration,
            ops,
            versions_seen: Default::default(),
        };
        let r = &m.registry;
        must(r.register(Box::new(m.invocations.clone())));
        must(r.register(Box::new(m.invocation_duration.clone())));
        must(r.register(Box::new(m.restore_duration.clone())));
        must(r.register(Box::new(m.stack_guard_violations.clone())));
        must(r.register(Box::new(m.guest_faults.clone())));
        must(r.register(Box::new(m.sandboxes.clone())));
        must(r.register(Box::new(m.queue_wait.clone())));
        must(r.register(Box::new(m.deploys.clone())));
        must(r.register(Box::new(m.http_requests.clone())));
        must(r.register(Box::new(m.records_dropped.clone())));
        must(r.register(Box::new(m.memory.clone())));
        must(r.register(Box::new(m.memory_budget.clone())));
        must(r.register(Box::new(m.memory_evictions.clone())));
        must(r.register(Box::new(m.memory_rejections.clone())));
        must(r.register(Box::new(m.cache_rejections.clone())));
        must(r.register(Box::new(m.stack_cookie_violations.clone())));
        must(r.register(Box::new(m.kv_rejections.clone())));
        must(r.register(Box::new(m.version_invocations.clone())));
        must(r.register(Box::new(m.outbound_requests.clone())));
        must(r.register(Box::new(m.outbound_duration.clone())));
        m
    }

    /// Creates every per-function series at zero, so they exist from the first deploy.
    pub fn register_function(&self, function: &str) {
        for outcome in OutcomeKind::ALL {
            self.invocations
                .with_label_values(&[function, outcome.as_str()]);
        }
        self.invocation_duration.with_label_values(&[function]);
        self.stack_guard_violations.with_label_values(&[function]);
        self.stack_cookie_violations.with_label_values(&[function]);
        for kind in FaultLabel::all() {
            self.guest_faults
                .with_label_values(&[function, kind.as_str()]);
        }
        for state in SANDBOX_STATES {
            self.sandboxes.with_label_values(&[function, state]);
        }
        for e in KvError::ALL {
            self.kv_rejections
                .with_label_values(&[function, e.as_str()]);
        }
        for result in crate::outbound::RESULTS {
            self.outbound_requests
                .with_label_values(&[function, result]);
        }
        self.outbound_duration.with_label_values(&[function]);
    }

    /// Drops every per-function series of a deleted function.
    pub fn forget_function(&self, function: &str) {
        for outcome in OutcomeKind::ALL {
            let _ = self
                .invocations
                .remove_label_values(&[function, outcome.as_str()]);
        }
        let _ = self.invocation_duration.remove_label_values(&[function]);
        let _ = self.stack_guard_violations.remove_label_values(&[function]);
        let _ = self
            .stack_cookie_violations
            .remove_label_values(&[function]);
        for kind in FaultLabel::all() {
            let _ = self
                .guest_faults
                .remove_label_values(&[function, kind.as_str()]);
        }
        for state in SANDBOX_STATES {
            let _ = self.sandboxes.remove_label_values(&[function, state]);
        }
        for e in KvError::ALL {
            let _ = self
                .kv_rejections
                .remove_label_values(&[function, e.as_str()]);
        }
        for result in crate::outbound::RESULTS {
            let _ = self
                .outbound_requests
                .remove_label_values(&[function, result]);
        }
        let _ = self.outbound_duration.remove_label_values(&[function]);
        for kind in FaultLabel::all() {
            let _ = self
                .ops
                .wasm_traps
                .remove_label_values(&[function, kind.as_str()]);
            let _ = self
                .ops
                .sandbox_faults
                .remove_label_values(&[function, kind.as_str()]);
        }
        let _ = self.ops.cold_starts.remove_label_values(&[function]);
        let _ = self
            .ops
            .cold_start_duration
            .remove_label_values(&[function]);
        let seen = flint_vmm::sync::lock(&self.versions_seen).remove(function);
        for v in seen.into_iter().flatten() {
            let _ = self
                .version_invocations
                .remove_label_values(&[function, &v.to_string()]);
        }
    }

    /// The series every call of `version` of `function` touches, looked up once (a pool
    /// keeps them: see [`crate::scheduler::Pool`]).
    pub fn series(&self, function: &str, version: i64) -> Series {
        flint_vmm::sync::lock(&self.versions_seen)
            .entry(function.to_string())
            .or_default()
            .insert(version);
        let gauge = |state: &str| self.sandboxes.with_label_values(&[function, state]);
        Series {
            version,
            idle: gauge("idle"),
            busy: gauge("busy"),
            ok: self
                .invocations
                .with_label_values(&[function, OutcomeKind::Ok.as_str()]),
            version_calls: self
                .version_invocations
                .with_label_values(&[function, &version.to_string()]),
            duration: self.invocation_duration.with_label_values(&[function]),
        }
    }

    /// [`Metrics::record`] through `series` (of `function`): a call that went well touches
    /// only those, with no lookup.
    pub fn record_in(
        &self,
        series: &Series,
        function: &str,
        outcome: &Outcome,
        duration: Duration,
    ) {
        if outcome.kind() != OutcomeKind::Ok || outcome.version() != series.version {
            return self.record(function, outcome, duration);
        }
        series.ok.inc();
        series.version_calls.inc();
        series.duration.observe(duration.as_secs_f64());
    }

    /// Counts one finished invocation of `function`: its outcome, its latency, and the guest
    /// fault it was, if any.
    pub fn record(&self, function: &str, outcome: &Outcome, duration: Duration) {
        self.invocations
            .with_label_values(&[function, outcome.kind().as_str()])
            .inc();
        let version = outcome.version();
        flint_vmm::sync::lock(&self.versions_seen)
            .entry(function.to_string())
            .or_default()
            .insert(version);
        self.version_invocations
            .with_label_values(&[function, &version.to_string()])
            .inc();
        self.invocation_duration
            .with_label_values(&[function])
            .observe(duration.as_secs_f64());
        if let Some(fault) = outcome.fault() {
            self.guest_faults
                .with_label_values(&[function, fault.as_str()])
                .inc();
            let apart = match fault {
                FaultLabel::Trap(_) => &self.ops.wasm_traps,
                FaultLabel::Vm(_) | FaultLabel::GuestPanic => &self.ops.sandbox_faults,
            };
            apart.with_label_values(&[function, fault.as_str()]).inc();
            // A stack cookie overwritten is a stack overflow that got past the guard page.
            if let FaultLabel::Vm(FaultKind::StackGuard | FaultKind::StackCookie) = fault {
                self.stack_guard_violations
                    .with_label_values(&[function])
                    .inc();
            }
            if fault == FaultLabel::Vm(FaultKind::StackCookie) {
                self.stack_cookie_violations
                    .with_label_values(&[function])
                    .inc();
            }
        }
    }

    /// Guest faults of `function` by kind (every kind, zeros included).
    pub fn faults_for(&self, function: &str) -> std::collections::BTreeMap<&'static str, u64> {
        FaultLabel::all()
            .map(|k| {
                let n = self.guest_faults.with_label_values(&[function, k.as_str()]);
                (k.as_str(), n.get())
            })
            .collect()
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        let encoder = TextEncoder::new();
        // Encoding into a Vec cannot fail for well-formed metric families.
        let _ = encoder.encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

/// The series of one function version that every call touches (see [`Metrics::series`]).
pub struct Series {
    version: i64,
    /// Its idle sandboxes.
    pub idle: IntGauge,
    /// Its running calls.
    pub busy: IntGauge,
    ok: IntCounter,
    version_calls: IntCounter,
    duration: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_start_at_25_us_and_end_at_30_s() {
        let b = latency_buckets();
        assert_eq!(b[0], 25e-6);
        assert_eq!(*b.last().unwrap(), 30.0);
        assert!(b.windows(2).all(|w| w[1] > w[0]));
    }

    #[test]
    fn function_series_exist_at_zero_after_registration() {
        let m = Metrics::new();
        m.register_function("hello");
        let text = m.render();
        assert!(
            text.contains(r#"flint_invocations_total{function="hello",outcome="timeout"} 0"#),
            "{text}"
        );
        assert!(
            text.contains(r#"flint_guest_faults_total{function="hello",kind="stack_guard"} 0"#)
        );
        assert!(text.contains(r#"flint_stack_guard_violations_total{function="hello"} 0"#));
        m.forget_function("hello");
        assert!(!m.render().contains(r#"function="hello""#));
    }

    /// An overwritten stack cookie is a stack overflow past the guard: it counts as a stack
    /// guard violation too, and on its own series.
    #[test]
    fn a_stack_cookie_violation_counts_as_a_stack_guard_violation() {
        use flint_runtime::InvokeError;
        use flint_vmm::{CallError, Fault};

        use crate::scheduler::Failure;
        let m = Metrics::new();
        m.register_function("f");
        let error = CallError::Fault(Fault::new(FaultKind::StackCookie));
        let outcome = Outcome::new(1, Err(Failure::Invoke(InvokeError::Call(error))));
        m.record("f", &outcome, Duration::from_millis(1));
        let text = m.render();
        assert!(
            text.contains(r#"flint_stack_guard_violations_total{function="f"} 1"#),
            "{text}"
        );
        assert!(text.contains(r#"flint_stack_cookie_violations_total{function="f"} 1"#));
        assert!(text.contains(r#"flint_guest_faults_total{function="f",kind="stack_cookie"} 1"#));
    }
}
