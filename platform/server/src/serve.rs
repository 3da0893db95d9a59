//! `flint serve`: wires the store, runtime, scheduler, metrics and HTTP API together, and shuts
//! down gracefully on SIGTERM or Ctrl-C.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use flint_runtime::Runtime;

use crate::api::{self, AppState, HttpLimits, SharedState};
use crate::cache::ArtifactCache;
use crate::cli::{ServeArgs, StoreArgs};
use crate::metrics::Metrics;
use crate::recorder::Recorder;
use crate::scheduler::{Limits, Scheduler};
use crate::store::Store;

/// Opens the store named by `args` (creating the data directory for SQLite).
pub async fn open_store(args: &StoreArgs) -> anyhow::Result<Store> {
    let url = match &args.database_url {
        Some(url) => url.clone(),
        None => {
            private_dir(&args.data_dir)?;
            Store::sqlite_url(&args.data_dir)
        }
    };
    Store::open(&url).await.context("open the store")
}

/// The admin token the operator chose: `--admin-token-file`, else `FLINT_ADMIN_TOKEN`.
fn configured_admin_token(args: &ServeArgs) -> anyhow::Result<Option<String>> {
    let token = match &args.admin_token_file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("read the admin token file {}", path.display()))?,
        ),
        None => std::env::var("FLINT_ADMIN_TOKEN").ok(),
    };
    let Some(token) = token.map(|t| t.trim().to_string()) else {
        return Ok(None);
    };
    anyhow::ensure!(!token.is_empty(), "the admin token is empty");
    Ok(Some(token))
}

/// Makes sure an admin token exists: the operator's (which replaces the one before it), or
/// one generated into `DATA_DIR/admin-token` (0600) on the first start.
async fn bootstrap_token(store: &Store, args: &ServeArgs) -> anyhow::Result<()> {
    if let Some(token) = configured_admin_token(args)? {
        store.replace_bootstrap_token(&token).await?;
        return Ok(());
    }
    let file = args.store.data_dir.join("admin-token");
    if file.exists() {
        return Ok(());
    }
    private_dir(&args.store.data_dir)?;
    let token = api::auth::new_token()?;
    store.replace_bootstrap_token(&token).await?;
    std::fs::write(&file, format!("{token}\n"))?;
    println!(
        "created a management token in {} (set FLINT_ADMIN_TOKEN to choose your own)",
        file.display()
    );
    Ok(())
}

/// Creates `dir` (and its parents) if needed, readable by this user only.
fn private_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("create data directory {}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("make {} private", dir.display()))
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return ctrl_c.await.unwrap_or(()),
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// Serves the API on `listener` until SIGTERM/Ctrl-C; then reports not ready but keeps
/// serving for `delay`, closes the listener, and lets in-flight requests finish for up to
/// `grace`.
async fn serve_until_shutdown<L>(
    listener: L,
    state: SharedState,
    (delay, grace): (Duration, Duration),
) -> anyhow::Result<()>
where
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug,
{
    let (draining_tx, mut draining_rx) = tokio::sync::watch::channel(false);
    let st = state.clone();
    let server = axum::serve(listener, api::router(state)).with_graceful_shutdown(async move {
        shutdown_signal().await;
        st.ready.store(false, Ordering::SeqCst);
        if !delay.is_zero() {
            tracing::info!(
                ?delay,
                "shutting down: not ready, still serving for the delay"
            );
            tokio::time::sleep(delay).await;
        }
        tracing::info!("shutting down: no new connections, draining in-flight requests");
        let _ = draining_tx.send(true);
    });
    tokio::select! {
        r = server => r.context("serve HTTP")?,
        _ = async {
            let _ = draining_rx.wait_for(|d| *d).await;
            tokio::time::sleep(grace).await;
        } => tracing::warn!("grace period over; stopping with requests still in flight"),
    }
    Ok(())
}

/// Runs the server until SIGTERM/Ctrl-C, then drains in-flight requests for the grace period.
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    // Everything Flint writes (the database, the node key, the cache, the admin token) is
    // for this user only.
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    private_dir(&args.store.data_dir)?;
    let store = open_store(&args.store).await?;
    bootstrap_token(&store, &args).await?;
    let runtime = tokio::task::spawn_blocking(Runtime::new)
        .await?
        .context("start the micro-VM runtime (is /dev/kvm available?)")?;
    let compiler = runtime.compiler().clone();
    let metrics = Arc::new(Metrics::new());
    let cache = ArtifactCache::new(
        &args.store.data_dir.join("cache/artifacts"),
        &args.store.data_dir.join("node.key"),
        compiler.clone(),
        crate::cache::CacheMetrics {
            rejected: metrics.cache_rejections.clone(),
            unwritable: metrics.ops.cache_write_failures.clone(),
            compile_duration: metrics.ops.compile_duration.clone(),
            evicted: metrics.ops.cache_evictions.clone(),
            bytes: metrics.ops.cache_bytes.clone(),
        },
        args.cache_max_bytes,
    )
    .context("create the artefact cache")?;
    let limits = Limits {
        max_total_concurrency: args
            .max_concurrency
            .unwrap_or_else(|| 4 * std::thread::available_parallelism().map_or(2, |n| n.get())),
        queue_per_function: args.queue_length,
        queue_timeout: Duration::from_millis(args.queue_timeout_ms),
        restore: args.restore,
        max_stdin_bytes: args.max_body_bytes as u64,
        max_module_bytes: args.max_module_bytes,
        ..Limits::default()
    };
    let budget_bytes = args
        .memory_budget
        .unwrap_or_else(crate::budget::default_budget_bytes);
    let budget = crate::budget::MemoryBudget::new(budget_bytes, metrics.clone());
    tracing::info!(budget_bytes, "memory budget");
    // One vCPU thread per call that may run at once, plus one for boots.
    let vcpus = flint_vmm::VcpuThreads::new(limits.max_total_concurrency + 1, args.seccomp)
        .context("start the vCPU threads")?;
    if args.seccomp == flint_vmm::SeccompPolicy::Off {
        tracing::warn!("vCPU threads run without their seccomp filter (--seccomp off)");
    }
    let scheduler = Arc::new(Scheduler::new(
        Arc::new(runtime),
        store.clone(),
        cache,
        metrics.clone(),
        budget,
        limits,
        vcpus,
    ));
    let ring =
        crate::secrets::KeyRing::load(args.secrets_key_file.as_deref(), &args.store.data_dir)
            .context("load the secrets keys")?;
    tracing::info!(key_id = ring.active_id(), "secrets key");
    let vault = crate::secrets::Vault::new(ring);
    let (recorder, writer) = Recorder::spawn(store.clone(), metrics.records_dropped.clone());
    let state: SharedState = Arc::new(AppState {
        store: store.clone(),
        scheduler,
        metrics,
        recorder,
        routes: Default::default(),
        traffic: Default::default(),
        tokens: Default::default(),
        compiler,
        limits: HttpLimits {
            max_module_bytes: args.max_module_bytes,
            max_files_bytes: args.max_files_bytes,
            max_body_bytes: args.max_body_bytes,
            metrics_elsewhere: args.metrics_listen.is_some(),
        },
        ready: AtomicBool::new(true),
        followers: Default::default(),
        vault,
    });
    for f in store.list_functions().await? {
        state.metrics.register_function(&f.name);
    }
    api::functions::refresh_routes(&state)
        .await
        .map_err(|e| anyhow::anyhow!("load routes: {}", e.message))?;
    let idle_ttl = Duration::from_secs(args.idle_sandbox_ttl_s);
    let postgres = (state.store.backend() == crate::store::Backend::Postgres)
        .then(|| args.store.database_url.clone())
        .flatten();
    let reconciler = tokio::spawn(crate::sync::keep_in_step(state.clone(), postgres, idle_ttl));
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listen on {}", args.listen))?;
    if let Some(addr) = args.metrics_listen {
        let metrics = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("listen for metrics on {addr}"))?;
        println!("flint metrics on http://{}/metrics", metrics.local_addr()?);
        let router = api::metrics_router(state.clone());
        tokio::spawn(async move { axum::serve(metrics, router).await });
    }
    let grace = (
        Duration::from_secs(args.shutdown_delay_s),
        Duration::from_secs(args.shutdown_grace_s),
    );
    match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => {
            let config = crate::tls::server_config(cert, key).context("set up TLS")?;
            let listener = crate::tls::TlsListener::new(listener, config)?;
            let addr = axum::serve::Listener::local_addr(&listener)?;
            println!("flint listening on https://{addr}");
            serve_until_shutdown(listener, state.clone(), grace).await?;
        }
        _ => {
            println!("flint listening on http://{}", listener.local_addr()?);
            serve_until_shutdown(listener, state.clone(), grace).await?;
        }
    }
    reconciler.abort();
    drop(state);
    let _ = tokio::time::timeout(Duration::from_secs(5), writer).await;
    store.close().await;
    Ok(())
}
