//! Validation and ahead-of-time compilation of WebAssembly modules for Flint's guest runtime.
//!
//! [`Compiler::validate`] checks what a user uploads before anything is stored or booted, and
//! says what is wrong in terms the user can act on ([`ValidationError`]). [`Compiler::compile`]
//! turns a valid module into native x86-64 code with Cranelift, for exactly the engine settings
//! the guest runtime uses ([`engine_config`]), and labels the artefact with a
//! [`Compiler::fingerprint`] so that a cached artefact built by another wasmtime version or with
//! other settings is never used.
//!
//! Not here: running modules (the guest runtime does that, inside a micro-VM), or caching
//! artefacts on disk (`flint-server`'s artefact cache, `platform/server/src/cache.rs`).
#![forbid(unsafe_code)]

pub mod component;
mod validate;

use std::hash::Hasher;

use sha2::{Digest, Sha256};
use wasmtime::{Config, Engine};

pub use validate::{ModuleInfo, ModuleLimits, ValidationError};

/// The wasmtime version every artefact is built for (the guest links the same one).
pub const WASMTIME_VERSION: &str = "48.0.8";

/// Engine settings shared with the guest runtime (`guest-runtime/src/wasm/engine.rs`). Code
/// is generated for the baseline x86-64 target, so it runs on any CPU the guest may get.
pub fn engine_config() -> Result<Config, CompileError> {
    let mut config = Config::new();
    flint_wasi::shared_engine_settings(&mut config);
    config
        .target("x86_64-unknown-linux-gnu")
        .map_err(|e| CompileError::Engine(e.to_string()))?;
    Ok(config)
}

/// Why the compiler could not be set up or a module not compiled.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    /// The engine could not be configured.
    #[error("Configure the wasmtime engine: {0}")]
    Engine(String),
    /// The module failed validation.
    #[error("Invalid module")]
    Invalid(#[from] ValidationError),
    /// Cranelift failed (a module that validated should not get here).
    #[error("Compile module: {0}")]
    Compile(String),
}

/// A compiled module, ready for the guest's module region.
#[derive(Clone, Debug)]
pub struct Artifact {
    /// The bytes wasmtime's `Module::deserialize_raw` loads.
    pub bytes: Vec<u8>,
    /// The compiler fingerprint it was built with.
    pub fingerprint: String,
}

impl Artifact {
    /// Whether it is a compiled component (served through `wasi:http`) rather than a module.
    pub fn is_component(&self) -> bool {
        Engine::detect_precompiled(&self.bytes) == Some(wasmtime::Precompiled::Component)
    }
}

/// Compiles modules for the guest runtime.
#[derive(Clone)]
pub struct Compiler {
    engine: Engine,
    fingerprint: String,
}

impl std::fmt::Debug for Compiler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compiler")
            .field("fingerprint", &self.fingerprint)
            .finish()
    }
}

/// Feeds `Hash` input into SHA-256, for a hash that is stable across processes.
struct ShaHasher(Sha256);

impl Hasher for ShaHasher {
    fn finish(&self) -> u64 {
        let digest = self.0.clone().finalize();
        u64::from_le_bytes(digest[..8].try_into().unwrap_or([0; 8]))
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

impl Compiler {
    /// A compiler for the guest runtime's engine settings.
    pub fn new() -> Result<Self, CompileError> {
        let engine =
            Engine::new(&engine_config()?).map_err(|e| CompileError::Engine(e.to_string()))?;
        let mut hasher = ShaHasher(Sha256::new());
        std::hash::Hash::hash(&engine.precompile_compatibility_hash(), &mut hasher);
        let fingerprint = format!("wasmtime-{WASMTIME_VERSION}-{:016x}", hasher.finish());
        Ok(Self {
            engine,
            fingerprint,
        })
    }

    /// Identifies the wasmtime version and every setting that affects compiled code.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Checks a module against what Flint provides and the function's limits.
    pub fn validate(
        &self,
        wasm: &[u8],
        limits: &ModuleLimits,
    ) -> Result<ModuleInfo, ValidationError> {
        validate::validate(&self.engine, wasm, limits)
    }

    /// Validates and compiles a module.
    pub fn compile(&self, wasm: &[u8], limits: &ModuleLimits) -> Result<Artifact, CompileError> {
        let info = self.validate(wasm, limits)?;
        let bytes = if info.component {
            self.engine.precompile_component(wasm)
        } else {
            self.engine.precompile_module(wasm)
        }
        .map_err(|e| CompileError::Compile(e.to_string()))?;
        Ok(Artifact {
            bytes,
            fingerprint: self.fingerprint.clone(),
        })
    }

    /// Whether `artifact` was built by a compiler with this one's fingerprint.
    pub fn accepts(&self, artifact: &Artifact) -> bool {
        artifact.fingerprint == self.fingerprint
    }
}

/// Hex SHA-256 of `bytes` (how modules are identified).
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
