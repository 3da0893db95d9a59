//! The scheduler: one pool of ready sandboxes per function (the active version), bounded
//! concurrency per function and overall (the node's slots, shared fairly: see [`Slots`]), a
//! bounded queue with a deadline, and the blocking KVM work on vCPU threads, never on the
//! async workers.
//!
//! A pool belongs to one version. Deploying or rolling back installs a new pool; invocations
//! already running keep their `Arc` of the old one and finish there, and its sandboxes are
//! dropped with it. A node that has never seen a function loads it from the store on first use
//! (compiled artefacts come from the disk cache).

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};

use flint_runtime::{FunctionConfig, InvokeError, Request, Response, Runtime, invoke};
use flint_vmm::sync::{lock, read, write};
use flint_vmm::{HostFunctions, ReadySandbox, RestoreStrategy, Snapshot, VcpuThreads};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

use crate::budget::{Hold, MemoryBudget, MemoryKind, SANDBOX_OVERHEAD_BYTES};
use crate::cache::{ArtifactCache, CacheError};
use crate::metrics::{Metrics, Series};
use crate::settings::{FunctionSettings, SettingsError};
use crate::slots::{SlotError, Slots};
use crate::store::{Store, StoreError, StoredModule};

/// Scheduler-wide limits.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Invocations running at once across all functions.
    pub max_total_concurrency: usize,
    /// Invocations that may wait for a slot, per function.
    pub queue_per_function: usize,
    /// How long an invocation may wait for a slot.
    pub queue_timeout: Duration,
    /// Idle sandboxes kept per function.
    pub max_idle_per_function: usize,
    /// How sandboxes return to their snapshot.
    pub restore: RestoreStrategy,
    /// Largest request body (a function's stdin).
    pub max_stdin_bytes: u64,
    /// Largest module.
    pub max_module_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_total_concurrency: 64,
            queue_per_function: 256,
            queue_timeout: Duration::from_secs(10),
            max_idle_per_function: 16,
            restore: RestoreStrategy::default(),
            max_stdin_bytes: 1 << 20,
            max_module_bytes: 32 << 20,
        }
    }
}

/// Why a function could not be loaded or deployed.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The store failed.
    #[error("Read the function from the store")]
    Store(#[from] StoreError),
    /// The stored settings are unreadable (a store written by another version of Flint).
    #[error("Stored settings are invalid")]
    Settings(#[from] SettingsError),
    /// Compiling failed.
    #[error("Compile the module")]
    Compile(#[from] CacheError),
    /// Booting the module failed (e.g. its initialisation trapped).
    #[error("Boot the module")]
    Boot(#[from] flint_runtime::RuntimeError),
    /// The blocking worker died.
    #[error("Worker thread failed")]
    Worker,
    /// Booting it would not fit the node's memory budget, even after evicting what could be.
    #[error("Not enough memory in the node's budget")]
    MemoryExhausted,
}

/// Why an invocation did not produce a response.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// No such function.
    #[error("Function {name:?} not found")]
    NotFound {
        /// The name asked for.
        name: String,
    },
    /// Too many waiting (429) or waited too long (503).
    #[error("Function overloaded")]
    Overloaded {
        /// Whether the queue was full (429) rather than the wait too long (503).
        queue_full: bool,
    },
    /// The function could not be loaded.
    #[error("Load the function")]
    Load(#[from] LoadError),
    /// The call would not fit the node's memory budget, even after evicting what could be.
    #[error("Not enough memory in the node's budget")]
    MemoryExhausted,
    /// The invocation failed (fault, timeout, request too large).
    #[error("Invoke the function")]
    Invoke(#[from] InvokeError),
}

/// A finished invocation.
#[derive(Debug)]
pub struct Invoked {
    /// The version that ran.
    pub version: i64,
    /// What the module produced.
    pub response: Response,
    /// The function's output limit (stdout past it was cut).
    pub output_limit_bytes: u64,
}

/// A booted function version, not yet serving.
pub struct Prepared {
    settings: FunctionSettings,
    config: FunctionConfig,
    sandbox: ReadySandbox,
    module_bytes: usize,
    component: bool,
    host: HostFunctions,
    snapshot_hold: Hold,
    sandbox_hold: Hold,
}

impl Prepared {
    /// The pool of `version` of `name`, with the booted sandbox idle in it.
    pub fn into_pool(self, name: &str, version: i64) -> Arc<Pool> {
        Arc::new(Pool {
            name: name.to_string(),
            version,
            permits: Arc::new(Semaphore::new(self.settings.max_concurrency as usize)),
            snapshot: self.sandbox.snapshot().clone(),
            guest_bytes: self.config.max_written_bytes(),
            settings: self.settings,
            config: self.config,
            module_bytes: self.module_bytes,
            component: self.component,
            host: self.host,
            snapshot_hold: self.snapshot_hold,
            idle: Mutex::new(vec![(self.sandbox, self.sandbox_hold)]),
            waiting: AtomicUsize::new(0),
            retired: Default::default(),
            last_used_ms: AtomicI64::new(crate::store::now_ms()),
            series: OnceLock::new(),
        })
    }
}

/// The sandboxes of one function version.
pub struct Pool {
    /// Function name.
    pub name: String,
    /// Version.
    pub version: i64,
    /// Its settings.
    pub settings: FunctionSettings,
    config: FunctionConfig,
    snapshot: Arc<Snapshot>,
    /// The most one call can write: what a busy sandbox is held at.
    guest_bytes: u64,
    module_bytes: usize,
    /// Whether it runs a component (served through `wasi:http`) rather than a module.
    pub component: bool,
    host: HostFunctions,
    /// The snapshot's memory, given back when the pool drops.
    #[expect(dead_code, reason = "held for its drop, which gives the bytes back")]
    snapshot_hold: Hold,
    /// Idle sandboxes, each with the memory it holds.
    idle: Mutex<Vec<(ReadySandbox, Hold)>>,
    permits: Arc<Semaphore>,
    waiting: AtomicUsize,
    /// Set when the function is deleted (see [`Pool::update_gauges`]).
    retired: std::sync::atomic::AtomicBool,
    /// When an invocation last took a sandbox (Unix ms).
    last_used_ms: AtomicI64,
    /// Its metric series, looked up on first use.
    series: OnceLock<Series>,
}

impl Pool {
    fn take_idle(&self) -> Option<ReadySandbox> {
        self.last_used_ms
            .store(crate::store::now_ms(), Ordering::Relaxed);
        let taken = lock(&self.idle).pop();
        taken.map(|(sandbox, _hold)| sandbox)
    }

    /// Drops the idle sandbox that waited longest; whether there was one.
    fn evict_one_idle(&self) -> bool {
        let mut idle = lock(&self.idle);
        if idle.is_empty() {
            return false;
        }
        drop(idle.remove(0));
        true
    }

    /// Drops idle sandboxes beyond the first if nothing used the pool for `idle_for_ms`.
    /// Returns how many were dropped.
    fn trim(&self, idle_for_ms: i64) -> usize {
        let quiet = crate::store::now_ms() - self.last_used_ms.load(Ordering::Relaxed);
        if quiet < idle_for_ms {
            return 0;
        }
        let mut idle = lock(&self.idle);
        let extra = idle.len().saturating_sub(1);
        idle.truncate(1);
        extra
    }

    fn put_idle(&self, sandbox: ReadySandbox, hold: Hold, max_idle: usize) {
        let mut idle = lock(&self.idle);
        if idle.len() < max_idle {
            idle.push((sandbox, hold));
        }
    }

    /// Sets the idle gauge and moves the busy one by `busy_delta`, unless the function was
    /// deleted (its series are gone and must stay gone). Under the idle lock, so a deletion
    /// ([`Pool::retire`]) is either before (and this does nothing) or after (and removes it).
    fn update_gauges(&self, metrics: &Metrics, busy_delta: i64) {
        let idle = lock(&self.idle);
        if self.retired.load(Ordering::Relaxed) {
            return;
        }
        let series = self.series(metrics);
        series.idle.set(idle.len() as i64);
        series.busy.add(busy_delta);
    }

    fn series(&self, metrics: &Metrics) -> &Series {
        self.series
            .get_or_init(|| metrics.series(&self.name, self.version))
    }

    /// Counts a finished call of this version (see [`Metrics::record`]), unless the function
    /// was deleted.
    pub fn record(&self, metrics: &Metrics, outcome: &crate::outcome::Outcome, took: Duration) {
        if !self.retired.load(Ordering::Relaxed) {
            metrics.record_in(self.series(metrics), &self.name, outcome, took);
        }
    }

    /// Marks the function deleted: no more gauge updates from calls still running.
    fn retire(&self) {
        let _idle = lock(&self.idle);
        self.retired.store(true, Ordering::Relaxed);
    }

    fn idle_count(&self) -> usize {
        lock(&self.idle).len()
    }
}

/// The scheduler.
pub struct Scheduler {
    runtime: Arc<Runtime>,
    store: Store,
    cache: ArtifactCache,
    metrics: Arc<Metrics>,
    budget: Arc<MemoryBudget>,
    limits: Limits,
    pools: RwLock<HashMap<String, Arc<Pool>>>,
    /// Pools of versions other than the active one, for traffic splits.
    others: RwLock<HashMap<(String, i64), Arc<Pool>>>,
    loading: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    slots: Arc<Slots>,
    vcpus: VcpuThreads,
    /// The client of functions' outbound HTTP.
    http: reqwest::Client,
}

impl Scheduler {
    /// A scheduler over `store`, compiling into `cache`, running guests on `vcpus`.
    pub fn new(
        runtime: Arc<Runtime>,
        store: Store,
        cache: ArtifactCache,
        metrics: Arc<Metrics>,
        budget: Arc<MemoryBudget>,
        limits: Limits,
        vcpus: VcpuThreads,
    ) -> Self {
        Self {
            vcpus,
            runtime,
            store,
            cache,
            metrics,
            budget,
            slots: Slots::new(limits.max_total_concurrency, limits.queue_per_function * 4),
            limits,
            pools: RwLock::new(HashMap::new()),
            others: RwLock::new(HashMap::new()),
            loading: Mutex::new(HashMap::new()),
            http: crate::outbound::client(),
        }
    }

    fn host_functions(&self, name: &str, settings: &FunctionSettings) -> HostFunctions {
        let rejections = self.metrics.kv_rejections.clone();
        let kv = self.store.kv_for(name, settings.kv_quota(), rejections);
        // A response travels to the guest through its input buffer, as a request body does.
        let max_response = self.limits.max_stdin_bytes as usize;
        let http =
            crate::outbound::for_function(name, settings, &self.http, &self.metrics, max_response);
        flint_runtime::host::host_functions_with(kv, http)
    }

    /// Holds `bytes` of `kind` against the memory budget, evicting least recently used idle
    /// sandboxes and then functions (never `for_function`) to make room. Where only running
    /// calls stand in the way, it waits for them (up to the queue deadline), as a call waits
    /// for a free slot.
    async fn admit(
        &self,
        kind: MemoryKind,
        bytes: u64,
        for_function: Option<&str>,
    ) -> Result<Hold, Failure> {
        let deadline = tokio::time::Instant::now() + self.limits.queue_timeout;
        loop {
            let released = self.budget.released();
            if let Some(hold) = self.budget.try_hold(kind, bytes) {
                return Ok(hold);
            }
            self.reclaim(bytes, for_function);
            if let Some(hold) = self.budget.try_hold(kind, bytes) {
                return Ok(hold);
            }
            let busy = self.budget.held_bytes(MemoryKind::BusySandboxes);
            let short =
                (self.budget.used_bytes() + bytes).saturating_sub(self.budget.limit_bytes());
            if busy < short || tokio::time::timeout_at(deadline, released).await.is_err() {
                break;
            }
        }
        self.metrics.memory_rejections.inc();
        tracing::warn!(
            bytes,
            used = self.budget.used_bytes(),
            limit = self.budget.limit_bytes(),
            "memory budget exhausted"
        );
        Err(Failure::MemoryExhausted)
    }

    /// Evicts until `bytes` fit: idle sandboxes of the least recently used functions first,
    /// then whole functions that no call is using.
    fn reclaim(&self, bytes: u64, for_function: Option<&str>) {
        let mut pools: Vec<Arc<Pool>> = read(&self.pools).values().cloned().collect();
        pools.sort_by_key(|p| p.last_used_ms.load(Ordering::Relaxed));
        let evicted = |kind: &str| {
            self.metrics
                .memory_evictions
                .with_label_values(&[kind])
                .inc()
        };
        for pool in &pools {
            while !self.budget.fits(bytes) && pool.evict_one_idle() {
                evicted("idle_sandbox");
                pool.update_gauges(&self.metrics, 0);
            }
        }
        for pool in pools {
            if self.budget.fits(bytes) {
                break;
            }
            let name = pool.name.clone();
            // In use by a call (this list and the map hold the other two references).
            if Some(name.as_str()) == for_function || Arc::strong_count(&pool) > 2 {
                continue;
            }
            let mut map = write(&self.pools);
            if map.get(&name).is_some_and(|p| Arc::ptr_eq(p, &pool)) {
                map.remove(&name);
                drop(map);
                drop(pool);
                evicted("function");
                tracing::info!(function = %name, "evicted to stay within the memory budget");
            }
        }
    }

    /// Runs `job` on a vCPU thread and waits for its result.
    async fn on_vcpu<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, LoadError> {
        let (tx, rx) = oneshot::channel();
        self.vcpus.run(move || {
            let _ = tx.send(job());
        });
        rx.await.map_err(|_| LoadError::Worker)
    }

    /// Checks that `settings` fit the guest's address space on this node with a module of
    /// `module_bytes` (see [`FunctionSettings::check_fits`]).
    pub fn check_fits(
        &self,
        settings: &FunctionSettings,
        module_bytes: usize,
    ) -> Result<(), crate::settings::SettingsError> {
        settings.check_fits(
            self.limits.restore,
            self.limits.max_stdin_bytes,
            module_bytes,
        )
    }

    /// Compiles (through the cache) and boots a module with `settings`.
    pub async fn prepare(
        &self,
        name: &str,
        settings: FunctionSettings,
        sha256: &str,
        wasm: Vec<u8>,
        files: Option<Vec<u8>>,
    ) -> Result<Prepared, LoadError> {
        let mut config = settings.function_config(self.limits.restore, self.limits.max_stdin_bytes);
        // The settings give the mounts; the version gives the bundle.
        config.files.image = Arc::new(files.unwrap_or_default());
        let limits = settings.module_limits(self.limits.max_module_bytes);
        let host = self.host_functions(name, &settings);
        let boot_bytes = config.max_written_bytes();
        let booting = self
            .admit(MemoryKind::BusySandboxes, boot_bytes, Some(name))
            .await
            .map_err(|_| LoadError::MemoryExhausted)?;
        // Compiling and reading cache files happen on a blocking thread; running the guest (its
        // initialisation) only ever on a vCPU thread, under its seccomp filter.
        let key_function = name.to_string();
        let cache = self.cache.clone();
        let (image, sha, cfg) = (
            self.runtime.image().clone(),
            sha256.to_string(),
            config.clone(),
        );
        let (artifact, loaded, path) = tokio::task::spawn_blocking(move || {
            let artifact = cache.get_or_compile(&sha, &wasm, &limits)?;
            let key = cfg.snapshot_key(&key_function, artifact.bytes.len());
            let path = cache.snapshot_path(&sha, &key);
            let loaded = cache.load_snapshot(&path, &image);
            Ok::<_, LoadError>((artifact, loaded, path))
        })
        .await
        .map_err(|_| LoadError::Worker)??;
        let module_bytes = artifact.bytes.len();
        let component = artifact.is_component();
        let fresh = loaded.is_none();
        let (runtime, cfg, h) = (self.runtime.clone(), config.clone(), host.clone());
        let booted = self
            .on_vcpu(move || match loaded {
                Some(s) => runtime.spawn(Arc::new(s), &cfg, module_bytes, h),
                None => runtime.boot(&artifact, &cfg, h),
            })
            .await?;
        let cache = self.cache.clone();
        let sha = sha256.to_string();
        let booted = match booted {
            Ok(sb) => {
                if fresh {
                    let (snapshot, path) = (sb.snapshot().clone(), path);
                    let store = move || cache.store_snapshot(&path, &snapshot);
                    tokio::task::spawn_blocking(store)
                        .await
                        .map_err(|_| LoadError::Worker)?;
                }
                Ok((sb, module_bytes))
            }
            Err(e) => {
                // A damaged cache entry must not stick: compile afresh next time.
                cache.evict(&sha);
                let _ = std::fs::remove_file(&path);
                Err(LoadError::Boot(e))
            }
        };
        let (sandbox, module_bytes) = booted?;
        flint_vmm::memory::trim_host_heap();
        let snapshot_hold = self
            .budget
            .hold(MemoryKind::Snapshots, sandbox.snapshot().own_bytes());
        let sandbox_hold = idle_hold(&self.budget, &sandbox, None);
        drop(booting);
        Ok(Prepared {
            settings,
            config,
            sandbox,
            module_bytes,
            component,
            host,
            snapshot_hold,
            sandbox_hold,
        })
    }

    /// Loads a stored version into a new pool.
    pub async fn build_pool(
        &self,
        name: &str,
        stored: StoredModule,
    ) -> Result<Arc<Pool>, LoadError> {
        let settings = stored.info.settings()?;
        let prepared = self
            .prepare(
                name,
                settings,
                &stored.info.sha256,
                stored.module,
                stored.files,
            )
            .await?;
        Ok(prepared.into_pool(name, stored.info.version))
    }

    /// Makes `pool` the one serving its function.
    pub fn install(&self, pool: Arc<Pool>) {
        self.metrics.register_function(&pool.name);
        pool.update_gauges(&self.metrics, 0);
        write(&self.pools).insert(pool.name.clone(), pool);
    }

    /// Stops serving `name` from this node's pools (it is reloaded on next use).
    pub fn evict(&self, name: &str) {
        write(&self.pools).remove(name);
        self.forget_versions(name);
    }

    /// Drops the pools of `name`'s other versions (its traffic split ended).
    pub fn forget_versions(&self, name: &str) {
        self.keep_versions(name, &[]);
    }

    /// Drops the pools of `name`'s other versions except `keep` (those its split names).
    pub fn keep_versions(&self, name: &str, keep: &[i64]) {
        write(&self.others).retain(|(n, v), _| n != name || keep.contains(v));
    }

    /// The pool of `version` of `name` (a version a traffic split names), loading it from
    /// the store if needed.
    pub async fn version_pool(&self, name: &str, version: i64) -> Result<Arc<Pool>, Failure> {
        let key = (name.to_string(), version);
        let cached = || {
            let active = self.loaded(name).filter(|p| p.version == version);
            active.or_else(|| read(&self.others).get(&key).cloned())
        };
        if let Some(p) = cached() {
            return Ok(p);
        }
        let gate = lock(&self.loading)
            .entry(format!("{name}@{version}"))
            .or_default()
            .clone();
        let _one_loader = gate.lock().await;
        if let Some(p) = cached() {
            return Ok(p);
        }
        let stored = self
            .store
            .version_module(name, version)
            .await
            .map_err(LoadError::Store)?
            .ok_or_else(|| Failure::NotFound {
                name: format!("{name} version {version}"),
            })?;
        let pool = self.build_pool(name, stored).await?;
        write(&self.others).insert(key, pool.clone());
        Ok(pool)
    }

    /// Forgets a deleted function: its pool goes, and calls still running on it stop updating
    /// its metrics (call before removing its series).
    pub fn remove(&self, name: &str) {
        if let Some(pool) = write(&self.pools).remove(name) {
            pool.retire();
        }
        let mut others = write(&self.others);
        for ((n, _), pool) in others.iter() {
            if n == name {
                pool.retire();
            }
        }
        others.retain(|(n, _), _| n != name);
    }

    /// The pool currently serving `name`, if loaded.
    pub fn loaded(&self, name: &str) -> Option<Arc<Pool>> {
        read(&self.pools).get(name).cloned()
    }

    /// Frees the extra idle sandboxes of every pool unused for `idle_for`: one stays warm.
    pub fn trim_idle(&self, idle_for: Duration) {
        let pools: Vec<Arc<Pool>> = read(&self.pools).values().cloned().collect();
        for pool in pools {
            let dropped = pool.trim(idle_for.as_millis() as i64);
            if dropped > 0 {
                pool.update_gauges(&self.metrics, 0);
                tracing::debug!(function = %pool.name, dropped, "freed idle sandboxes");
            }
        }
    }

    /// Names and versions of every loaded pool.
    pub fn loaded_versions(&self) -> Vec<(String, i64)> {
        read(&self.pools)
            .values()
            .map(|p| (p.name.clone(), p.version))
            .collect()
    }

    /// The pool for `name`, loading the active version from the store if needed.
    pub async fn pool(&self, name: &str) -> Result<Arc<Pool>, Failure> {
        if let Some(p) = self.loaded(name) {
            return Ok(p);
        }
        let gate = lock(&self.loading)
            .entry(name.to_string())
            .or_default()
            .clone();
        let _one_loader = gate.lock().await;
        if let Some(p) = self.loaded(name) {
            return Ok(p);
        }
        let started = Instant::now();
        let stored = self
            .store
            .active_module(name)
            .await
            .map_err(LoadError::Store)?
            .ok_or_else(|| Failure::NotFound {
                name: name.to_string(),
            })?;
        let pool = self.build_pool(name, stored).await?;
        self.install(pool.clone());
        let ops = &self.metrics.ops;
        ops.cold_starts.with_label_values(&[name]).inc();
        ops.cold_start_duration
            .with_label_values(&[name])
            .observe(started.elapsed().as_secs_f64());
        Ok(pool)
    }

    async fn wait_for(
        &self,
        semaphore: &Arc<Semaphore>,
        waiting: &AtomicUsize,
        max_waiting: usize,
    ) -> Result<OwnedSemaphorePermit, Failure> {
        if let Ok(p) = semaphore.clone().try_acquire_owned() {
            return Ok(p);
        }
        if waiting.fetch_add(1, Ordering::SeqCst) >= max_waiting {
            waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(Failure::Overloaded { queue_full: true });
        }
        let waited =
            tokio::time::timeout(self.limits.queue_timeout, semaphore.clone().acquire_owned())
                .await;
        waiting.fetch_sub(1, Ordering::SeqCst);
        match waited {
            Ok(Ok(p)) => Ok(p),
            _ => Err(Failure::Overloaded { queue_full: false }),
        }
    }

    /// Runs one invocation on `pool` (from [`Scheduler::pool`]: the version the caller
    /// resolved, authorised and built the request for is the one that runs).
    pub async fn invoke(&self, pool: Arc<Pool>, request: Request) -> Result<Invoked, Failure> {
        let arrived = Instant::now();
        let queue = self.limits.queue_per_function;
        let fn_permit = self.wait_for(&pool.permits, &pool.waiting, queue).await?;
        let global_permit = self
            .slots
            .acquire(&pool.name, self.limits.queue_timeout)
            .await
            .map_err(|e| Failure::Overloaded {
                queue_full: e == SlotError::QueueFull,
            })?;
        self.metrics
            .queue_wait
            .observe(arrived.elapsed().as_secs_f64());
        let busy = self
            .admit(
                MemoryKind::BusySandboxes,
                pool.guest_bytes,
                Some(&pool.name),
            )
            .await?;
        let (tx, rx) = oneshot::channel();
        let (pool2, runtime, metrics) = (pool.clone(), self.runtime.clone(), self.metrics.clone());
        let budget = self.budget.clone();
        let max_idle = self.limits.max_idle_per_function;
        self.vcpus.run(move || {
            let _held = (fn_permit, global_permit, busy);
            run_in_sandbox(&pool2, &runtime, &metrics, &budget, max_idle, request, tx);
        });
        let response = rx.await.map_err(|_| LoadError::Worker)??;
        Ok(Invoked {
            version: pool.version,
            output_limit_bytes: pool.config.stdout_limit_bytes,
            response,
        })
    }
}

/// On a vCPU thread: take or spawn a sandbox, invoke, answer, then restore the sandbox off
/// the request path and return it to the pool.
fn run_in_sandbox(
    pool: &Pool,
    runtime: &Runtime,
    metrics: &Metrics,
    budget: &Arc<MemoryBudget>,
    max_idle: usize,
    request: Request,
    answer: oneshot::Sender<Result<Response, Failure>>,
) {
    let mut sandbox = match pool.take_idle() {
        Some(sb) => sb,
        None => match runtime.spawn(
            pool.snapshot.clone(),
            &pool.config,
            pool.module_bytes,
            pool.host.clone(),
        ) {
            Ok(sb) => sb,
            Err(e) => {
                let _ = answer.send(Err(Failure::Load(LoadError::Boot(e))));
                return;
            }
        },
    };
    pool.update_gauges(metrics, 1);
    let result = invoke(&mut sandbox, &pool.config, &request);
    let _ = answer.send(result.map_err(Failure::Invoke));
    let restored = sandbox.restore();
    if let Ok(stats) = restored {
        metrics
            .restore_duration
            .observe(stats.duration.as_secs_f64());
        let hold = idle_hold(budget, &sandbox, Some(&stats));
        pool.put_idle(sandbox, hold, max_idle);
    }
    pool.update_gauges(metrics, -1);
    debug_assert!(pool.idle_count() <= max_idle);
}

/// What an idle sandbox holds against the budget: its private pages after the restore (from
/// `stats` where the restore counted them, else the kernel's count) plus its fixed overhead.
fn idle_hold(
    budget: &Arc<MemoryBudget>,
    sandbox: &ReadySandbox,
    stats: Option<&flint_vmm::RestoreStats>,
) -> Hold {
    let private = match stats {
        Some(s) if s.discarded => 0,
        Some(s) if s.strategy == RestoreStrategy::Pagemap => s.bytes_reset,
        _ => sandbox.private_bytes().unwrap_or(0),
    };
    budget.hold(MemoryKind::IdleSandboxes, private + SANDBOX_OVERHEAD_BYTES)
}
