//! The node-local cache of compiled artefacts and booted snapshots, so a restart neither
//! recompiles nor reboots. Artefacts are keyed by module hash and compiler fingerprint (an
//! artefact from another wasmtime version or setting is never found); snapshots also by the
//! function and its memory shape (`FunctionConfig::snapshot_key`).
//!
//! Nothing read back is trusted: an artefact is native code the guest runs, and a snapshot is
//! the guest's whole memory. Every file is sealed with an HMAC-SHA256 under a per-node key
//! (`node.key` in the data directory, 32 random bytes, created 0600), over its kind, its file
//! name and its bytes, so a file that was altered, truncated or moved to another name fails to
//! open. Such a file is treated as absent: it is logged, counted in
//! `flint_cache_rejections_total{kind}`, deleted, and rebuilt.

use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use flint_compiler::{Artifact, Compiler, ModuleLimits};
use flint_vmm::{GuestImage, Snapshot};
use hmac::{Hmac, Mac};
use prometheus::IntCounterVec;
use sha2::Sha256;

/// Length of a seal (an HMAC-SHA256 tag) at the end of every cache file.
const TAG_BYTES: usize = 32;
/// Length of the node key.
const KEY_BYTES: usize = 32;

/// Why an artefact could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// Compiling failed.
    #[error("Compile module")]
    Compile(#[from] flint_compiler::CompileError),
    /// Writing the cache failed.
    #[error("Write artefact cache {path}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The node key could not be read or created.
    #[error("Node key {path}")]
    Key {
        /// The key file.
        path: PathBuf,
        /// The OS error (or a key of the wrong length).
        #[source]
        source: std::io::Error,
    },
}

/// What a cache file holds, as the `kind` label of `flint_cache_rejections_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheKind {
    /// A compiled module.
    Artifact,
    /// A booted function's snapshot.
    Snapshot,
}

impl CacheKind {
    /// Every kind.
    pub const ALL: [CacheKind; 2] = [CacheKind::Artifact, CacheKind::Snapshot];

    /// The label.
    pub fn as_str(self) -> &'static str {
        match self {
            CacheKind::Artifact => "artifact",
            CacheKind::Snapshot => "snapshot",
        }
    }
}

/// Reads the node key at `path`, creating it (0600, 32 bytes from the OS) if absent.
fn node_key(path: &Path) -> Result<[u8; KEY_BYTES], CacheError> {
    let err = |source| CacheError::Key {
        path: path.to_path_buf(),
        source,
    };
    match std::fs::read(path) {
        Ok(bytes) => bytes.try_into().map_err(|_| {
            err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "the node key is not 32 bytes",
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut key = [0u8; KEY_BYTES];
            getrandom::fill(&mut key).map_err(|e| err(std::io::Error::other(e)))?;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(err)?;
            f.write_all(&key).and_then(|()| f.sync_all()).map_err(err)?;
            Ok(key)
        }
        Err(e) => Err(err(e)),
    }
}

/// Compiled artefacts and snapshots on disk, sealed with the node key.
#[derive(Clone)]
pub struct ArtifactCache {
    dir: PathBuf,
    compiler: Compiler,
    key: Arc<[u8; KEY_BYTES]>,
    metrics: CacheMetrics,
    max_bytes: Option<u64>,
}

impl std::fmt::Debug for ArtifactCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArtifactCache")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

/// What the cache counts.
#[derive(Clone)]
pub struct CacheMetrics {
    /// Files whose seal did not hold, by [`CacheKind`] (`flint_cache_rejections_total`).
    pub rejected: IntCounterVec,
    /// Files that could not be written, by [`CacheKind`]: a full or read-only disk, after
    /// which calls go on uncached (`flint_cache_write_failures_total`).
    pub unwritable: IntCounterVec,
    /// Compile times of cache misses (`flint_compile_duration_seconds`).
    pub compile_duration: prometheus::Histogram,
    /// Files evicted to stay within the size limit (`flint_cache_evictions_total`).
    pub evicted: prometheus::IntCounter,
    /// The cache's size after the last write (`flint_cache_bytes`).
    pub bytes: prometheus::IntGauge,
}

impl ArtifactCache {
    /// A cache in `dir` (created if missing) for `compiler`, sealed with the key at `key_path`
    /// (created if missing), counting in `metrics`, holding at most `max_bytes` if given.
    pub fn new(
        dir: &Path,
        key_path: &Path,
        compiler: Compiler,
        metrics: CacheMetrics,
        max_bytes: Option<u64>,
    ) -> Result<Self, CacheError> {
        std::fs::create_dir_all(dir).map_err(|source| CacheError::Write {
            path: dir.to_path_buf(),
            source,
        })?;
        let cache = Self {
            dir: dir.to_path_buf(),
            compiler,
            key: Arc::new(node_key(key_path)?),
            metrics,
            max_bytes,
        };
        cache.enforce_limit();
        Ok(cache)
    }

    fn mac(&self, kind: CacheKind, path: &Path, bytes: &[u8]) -> Hmac<Sha256> {
        // A key of any length is valid for HMAC; the error case cannot happen.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key[..])
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        let name = path
            .file_name()
            .map(|n| n.as_encoded_bytes())
            .unwrap_or(b"");
        for part in [b"flint-cache-v1".as_slice(), kind.as_str().as_bytes(), name] {
            mac.update(&(part.len() as u64).to_le_bytes());
            mac.update(part);
        }
        mac.update(bytes);
        mac
    }

    /// Writes `bytes` sealed to `path`, atomically.
    fn seal(&self, kind: CacheKind, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
        let tag = self.mac(kind, path, bytes).finalize().into_bytes();
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let result = (|| {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(bytes)?;
            f.write_all(&tag)?;
            f.sync_all()?;
            std::fs::rename(&tmp, path)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        if result.is_ok() {
            self.enforce_limit();
        }
        result
    }

    /// Reports the cache's size and, past its limit, deletes the least recently used files
    /// until it fits (a file in use is in memory already; a deleted one is rebuilt when next
    /// needed). This process's temporary files may be in flight and are left alone.
    fn enforce_limit(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let ours = format!("tmp{}", std::process::id());
        let mut files: Vec<(std::time::SystemTime, u64, PathBuf)> = entries
            .filter_map(|e| {
                let e = e.ok()?;
                let m = e.metadata().ok()?;
                let path = e.path();
                let in_flight = path.extension().is_some_and(|x| x == ours.as_str());
                (m.is_file() && !in_flight).then_some((m.modified().ok()?, m.len(), path))
            })
            .collect();
        let mut total: u64 = files.iter().map(|f| f.1).sum();
        if let Some(limit) = self.max_bytes {
            files.sort();
            for (_, size, path) in files {
                if total <= limit {
                    break;
                }
                if std::fs::remove_file(&path).is_ok() {
                    total -= size;
                    self.metrics.evicted.inc();
                    tracing::debug!(path = %path.display(), "evicted from the cache");
                }
            }
        }
        self.metrics
            .bytes
            .set(i64::try_from(total).unwrap_or(i64::MAX));
    }

    /// The bytes sealed at `path`, or `None` if there is no file or its seal does not hold
    /// (then it is counted, logged and deleted).
    fn open(&self, kind: CacheKind, path: &Path) -> Option<Vec<u8>> {
        let mut file = std::fs::File::open(path).ok()?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).ok()?;
        let authentic = bytes.len() >= TAG_BYTES && {
            let tag = bytes.split_off(bytes.len() - TAG_BYTES);
            self.mac(kind, path, &bytes).verify_slice(&tag).is_ok()
        };
        if authentic {
            // Its time is its last use: the cache's size limit evicts the oldest first.
            if self.max_bytes.is_some() {
                let _ = file.set_modified(std::time::SystemTime::now());
            }
            return Some(bytes);
        }
        self.metrics
            .rejected
            .with_label_values(&[kind.as_str()])
            .inc();
        tracing::warn!(path = %path.display(), kind = kind.as_str(), "a cache file failed its seal; rebuilding it");
        let _ = std::fs::remove_file(path);
        None
    }

    fn path(&self, sha256: &str) -> PathBuf {
        self.dir
            .join(format!("{sha256}.{}.cwasm", self.compiler.fingerprint()))
    }

    /// The artefact for `wasm` (whose hash is `sha256`): from disk, or compiled and stored.
    pub fn get_or_compile(
        &self,
        sha256: &str,
        wasm: &[u8],
        limits: &ModuleLimits,
    ) -> Result<Artifact, CacheError> {
        let path = self.path(sha256);
        if let Some(bytes) = self.open(CacheKind::Artifact, &path) {
            return Ok(Artifact {
                bytes,
                fingerprint: self.compiler.fingerprint().to_string(),
            });
        }
        let started = std::time::Instant::now();
        let artifact = self.compiler.compile(wasm, limits)?;
        self.metrics
            .compile_duration
            .observe(started.elapsed().as_secs_f64());
        if let Err(e) = self.seal(CacheKind::Artifact, &path, &artifact.bytes) {
            self.unwritable_file(CacheKind::Artifact, &path, &e);
        }
        Ok(artifact)
    }

    /// Where the snapshot of module `sha256` booted with a configuration of `config_key` lives.
    pub fn snapshot_path(&self, sha256: &str, config_key: &str) -> PathBuf {
        self.dir.join(format!(
            "{sha256}.{}.{config_key}.snap",
            self.compiler.fingerprint()
        ))
    }

    /// The snapshot sealed at `path` for `image`, if there is an authentic, usable one.
    pub fn load_snapshot(&self, path: &Path, image: &Arc<GuestImage>) -> Option<Snapshot> {
        let bytes = self.open(CacheKind::Snapshot, path)?;
        match Snapshot::from_file_bytes(&bytes, image.clone()) {
            Ok(s) => Some(s),
            Err(e) => {
                // Authentic but unusable: written by another guest runtime build.
                tracing::info!(path = %path.display(), error = %e, "snapshot file of another build; rebooting");
                let _ = std::fs::remove_file(path);
                None
            }
        }
    }

    /// Seals `snapshot` to `path` (a failure is logged: the next start boots afresh).
    pub fn store_snapshot(&self, path: &Path, snapshot: &Snapshot) {
        if let Err(e) = self.seal(CacheKind::Snapshot, path, &snapshot.to_file_bytes()) {
            self.unwritable_file(CacheKind::Snapshot, path, &e);
        }
    }

    /// A file that could not be written: logged and counted; the caller goes on uncached.
    fn unwritable_file(&self, kind: CacheKind, path: &Path, e: &std::io::Error) {
        tracing::warn!(path = %path.display(), error = %e, "could not write a cache file; going on without it");
        self.metrics
            .unwritable
            .with_label_values(&[kind.as_str()])
            .inc();
    }

    /// Forgets the artefact of `sha256` (after it failed to load).
    pub fn evict(&self, sha256: &str) {
        let _ = std::fs::remove_file(self.path(sha256));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(dir: &Path) -> (ArtifactCache, IntCounterVec) {
        limited(dir, None)
    }

    fn limited(dir: &Path, max_bytes: Option<u64>) -> (ArtifactCache, IntCounterVec) {
        let rejected = IntCounterVec::new(prometheus::Opts::new("r", "r"), &["kind"]).unwrap();
        let compiler = Compiler::new().unwrap();
        let metrics = CacheMetrics {
            rejected: rejected.clone(),
            unwritable: IntCounterVec::new(prometheus::Opts::new("u", "u"), &["kind"]).unwrap(),
            compile_duration: prometheus::Histogram::with_opts(prometheus::HistogramOpts::new(
                "c", "c",
            ))
            .unwrap(),
            evicted: prometheus::IntCounter::new("e", "e").unwrap(),
            bytes: prometheus::IntGauge::new("b", "b").unwrap(),
        };
        let c = ArtifactCache::new(
            &dir.join("a"),
            &dir.join("node.key"),
            compiler,
            metrics,
            max_bytes,
        );
        (c.unwrap(), rejected)
    }

    #[test]
    fn a_flipped_byte_a_truncation_or_a_rename_is_rejected() {
        let dir = std::env::temp_dir().join(format!("flint-cache-test-{}", std::process::id()));
        let (c, rejected) = cache(&dir);
        let key = dir.join("node.key");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let path = dir.join("a/x.snap");
        c.seal(CacheKind::Snapshot, &path, b"snapshot bytes")
            .unwrap();
        assert_eq!(
            c.open(CacheKind::Snapshot, &path).unwrap(),
            b"snapshot bytes"
        );
        // Same bytes, another kind: refused.
        c.seal(CacheKind::Snapshot, &path, b"snapshot bytes")
            .unwrap();
        assert!(c.open(CacheKind::Artifact, &path).is_none());
        // Flipped byte.
        c.seal(CacheKind::Snapshot, &path, b"snapshot bytes")
            .unwrap();
        let mut b = std::fs::read(&path).unwrap();
        b[3] ^= 1;
        std::fs::write(&path, &b).unwrap();
        assert!(c.open(CacheKind::Snapshot, &path).is_none());
        assert!(!path.exists(), "a rejected file is deleted");
        // Moved to another name.
        c.seal(CacheKind::Snapshot, &path, b"snapshot bytes")
            .unwrap();
        let other = dir.join("a/y.snap");
        std::fs::rename(&path, &other).unwrap();
        assert!(c.open(CacheKind::Snapshot, &other).is_none());
        // Truncated below a tag.
        std::fs::write(&path, b"short").unwrap();
        assert!(c.open(CacheKind::Snapshot, &path).is_none());
        assert_eq!(rejected.with_label_values(&["snapshot"]).get(), 3);
        assert_eq!(rejected.with_label_values(&["artifact"]).get(), 1);
        // The key survives a restart: a second cache over the same key opens old files.
        c.seal(CacheKind::Artifact, &path, b"code").unwrap();
        let (again, _) = cache(&dir);
        assert_eq!(again.open(CacheKind::Artifact, &path).unwrap(), b"code");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_size_limit_evicts_the_least_recently_used() {
        let dir = std::env::temp_dir().join(format!("flint-cache-lru-{}", std::process::id()));
        let (c, _) = limited(&dir, Some(3 * 1100));
        let file = |n: u32| dir.join(format!("a/{n}.snap"));
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
        for n in 0..3 {
            c.seal(CacheKind::Snapshot, &file(n), &[n as u8; 1000])
                .unwrap();
            // Distinct times, oldest first, as on a real node where writes are far apart.
            let at = old + std::time::Duration::from_secs(u64::from(n));
            std::fs::File::open(file(n))
                .and_then(|f| f.set_modified(at))
                .unwrap();
        }
        // Reading file 0 makes it the most recently used: file 1 is now the oldest.
        assert!(c.open(CacheKind::Snapshot, &file(0)).is_some());
        c.seal(CacheKind::Snapshot, &file(3), &[3; 1000]).unwrap();
        assert!(!file(1).exists(), "the least recently used file is evicted");
        for n in [0, 2, 3] {
            assert!(file(n).exists(), "file {n} stays");
        }
        assert_eq!(c.metrics.evicted.get(), 1);
        let on_disk: u64 = std::fs::read_dir(dir.join("a"))
            .unwrap()
            .map(|e| e.unwrap().metadata().unwrap().len())
            .sum();
        assert!(on_disk <= 3 * 1100, "{on_disk} bytes on disk");
        assert_eq!(c.metrics.bytes.get() as u64, on_disk);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
