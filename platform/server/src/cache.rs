//! The node-local cache of compiled artefacts, keyed by module hash and compiler fingerprint, so
//! a restart does not recompile and a cached artefact from another wasmtime version or setting
//! is never found.

use std::path::{Path, PathBuf};

use flint_compiler::{Artifact, Compiler, ModuleLimits};

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
}

/// Compiled artefacts on disk.
#[derive(Clone, Debug)]
pub struct ArtifactCache {
    dir: PathBuf,
    compiler: Compiler,
}

impl ArtifactCache {
    /// A cache in `dir` (created if missing) for `compiler`.
    pub fn new(dir: &Path, compiler: Compiler) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            compiler,
        })
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
        if let Ok(bytes) = std::fs::read(&path) {
            return Ok(Artifact {
                bytes,
                fingerprint: self.compiler.fingerprint().to_string(),
            });
        }
        let artifact = self.compiler.compile(wasm, limits)?;
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let write =
            std::fs::write(&tmp, &artifact.bytes).and_then(|()| std::fs::rename(&tmp, &path));
        write.map_err(|source| CacheError::Write { path, source })?;
        Ok(artifact)
    }

    /// Where the snapshot of module `sha256` booted with a configuration of `config_key` lives.
    pub fn snapshot_path(&self, sha256: &str, config_key: &str) -> PathBuf {
        self.dir.join(format!(
            "{sha256}.{}.{config_key}.snap",
            self.compiler.fingerprint()
        ))
    }

    /// Forgets the artefact of `sha256` (after it failed to load).
    pub fn evict(&self, sha256: &str) {
        let _ = std::fs::remove_file(self.path(sha256));
    }
}
