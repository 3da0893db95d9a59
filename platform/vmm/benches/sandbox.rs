//! Micro-VM benchmark: sandbox creation, calls, host calls, and each restore strategy after
//! calls that dirty 1, 16 and 256 heap pages, side by side in one run.
//!
//! Run: `cargo bench -p flint-vmm --bench sandbox` (`-- --quick` for fewer iterations).
//! Prints a Markdown table (microseconds) for docs/BENCHMARKS.md.

use std::sync::Arc;
use std::time::{Duration, Instant};

use flint_vmm::{
    GuestImage, HostFunctions, Hypervisor, ReadySandbox, RestoreStrategy, SandboxConfig,
    UninitSandbox, Value, ValueType,
};

struct Row {
    name: String,
    samples: Vec<f64>,
}

impl Row {
    fn new(name: impl Into<String>, mut samples: Vec<f64>) -> Self {
        samples.sort_by(f64::total_cmp);
        Self {
            name: name.into(),
            samples,
        }
    }
    fn quantile(&self, q: f64) -> f64 {
        let i = ((self.samples.len() - 1) as f64 * q).round() as usize;
        self.samples[i]
    }
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn timed<T>(f: impl FnOnce() -> T) -> (T, f64) {
    let t = Instant::now();
    let r = f();
    (r, us(t.elapsed()))
}

fn host_functions() -> HostFunctions {
    HostFunctions::builder()
        .register("double", &[ValueType::I64], ValueType::I64, |a| match a {
            [Value::I64(x)] => Ok(Value::I64(x * 2)),
            _ => Ok(Value::I64(0)),
        })
        .build()
}

fn config(restore: RestoreStrategy) -> SandboxConfig {
    SandboxConfig {
        restore,
        ..SandboxConfig::default()
    }
}

fn boot(hv: &Hypervisor, image: &Arc<GuestImage>, restore: RestoreStrategy) -> ReadySandbox {
    UninitSandbox::new(hv, image.clone(), config(restore), host_functions())
        .expect("build sandbox")
        .boot()
        .expect("boot sandbox")
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let n = if quick { 200 } else { 2000 };
    let n_create = if quick { 20 } else { 100 };
    let hv = Hypervisor::new().expect("the benchmark needs /dev/kvm");
    let image = Arc::new(GuestImage::builtin().expect("guest image"));
    let mut rows = Vec::new();

    let creates: Vec<f64> = (0..n_create)
        .map(|_| timed(|| boot(&hv, &image, RestoreStrategy::default())).1)
        .collect();
    rows.push(Row::new("sandbox create + boot + snapshot", creates));

    let template = boot(&hv, &image, RestoreStrategy::default());
    let snapshot = template.snapshot().clone();
    let from_snapshot: Vec<f64> = (0..n_create)
        .map(|_| {
            timed(|| {
                ReadySandbox::from_snapshot(
                    &hv,
                    snapshot.clone(),
                    config(RestoreStrategy::default()),
                    host_functions(),
                )
                .expect("sandbox from snapshot")
            })
            .1
        })
        .collect();
    rows.push(Row::new("sandbox from snapshot (CoW memfd)", from_snapshot));

    let mut sb = template;
    let mut calls = Vec::new();
    let mut restores = Vec::new();
    let mut both = Vec::new();
    let mut host_calls = Vec::new();
    for _ in 0..n {
        let (r, t_call) = timed(|| sb.call("noop", &[]));
        r.expect("noop");
        let (r, t_restore) = timed(|| sb.restore());
        r.expect("restore");
        calls.push(t_call);
        restores.push(t_restore);
        both.push(t_call + t_restore);
        let args = [Value::String("double".into()), Value::I64(21)];
        let (r, t) = timed(|| sb.call("call_host", &args));
        assert_eq!(r.expect("host call"), Value::I64(42));
        host_calls.push(t);
        sb.restore().expect("restore");
    }
    rows.push(Row::new("no-op call", calls));
    rows.push(Row::new(
        format!("restore after no-op ({})", RestoreStrategy::default()),
        restores,
    ));
    rows.push(Row::new("no-op call + restore", both));
    rows.push(Row::new(
        "call with one host-function round trip",
        host_calls,
    ));

    for strategy in RestoreStrategy::ALL {
        let mut sb = boot(&hv, &image, strategy);
        let reps = if strategy == RestoreStrategy::FullReset {
            n / 10
        } else {
            n / 2
        };
        for pages in [1u32, 16, 256] {
            let mut calls = Vec::new();
            let mut restores = Vec::new();
            let mut bytes = 0;
            for _ in 0..reps {
                let (r, t) = timed(|| sb.call("dirty", &[Value::U32(pages)]));
                r.expect("dirty");
                calls.push(t);
                let (stats, t) = timed(|| sb.restore());
                bytes = stats.expect("restore").bytes_reset;
                restores.push(t);
            }
            let name = strategy.as_str();
            rows.push(Row::new(
                format!(
                    "restore {name}, {pages} dirty pages ({} KiB reset)",
                    bytes / 1024
                ),
                restores,
            ));
            rows.push(Row::new(
                format!("  call dirtying {pages} pages under {name}"),
                calls,
            ));
        }
    }

    println!("| measurement (us) | n | median | p99 |");
    println!("|---|---:|---:|---:|");
    for r in &rows {
        println!(
            "| {} | {} | {:.1} | {:.1} |",
            r.name,
            r.samples.len(),
            r.quantile(0.5),
            r.quantile(0.99)
        );
    }
}
