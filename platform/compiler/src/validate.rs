//! What Flint accepts as a function: a core WebAssembly module that validates, imports only what
//! Flint provides (WASI preview 1 and `flint.*`, with matching signatures), exports its entry
//! point and its memory, and fits the function's memory limit.

use flint_wasi::imports::{self, Ty};
use wasmparser::{ExternalKind, Parser, Payload, TypeRef, ValType};
use wasmtime::Engine;

/// The size of a WebAssembly page.
const WASM_PAGE_BYTES: u64 = 64 << 10;

/// Limits a module must fit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModuleLimits {
    /// Largest accepted module.
    pub max_module_bytes: usize,
    /// Largest linear memory the function may use.
    pub memory_limit_bytes: u64,
    /// The export each call runs: `_start` for a WASI command.
    pub entry: String,
}

impl Default for ModuleLimits {
    fn default() -> Self {
        Self {
            max_module_bytes: 32 << 20,
            memory_limit_bytes: 128 << 20,
            entry: "_start".into(),
        }
    }
}

/// What validation learned about a module.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ModuleInfo {
    /// `(module, name)` of every import.
    pub imports: Vec<(String, String)>,
    /// Names of every export.
    pub exports: Vec<String>,
    /// Whether it exports `_initialize` (a WASI reactor's set-up).
    pub has_initialize: bool,
    /// Initial size of its memory.
    pub memory_min_bytes: u64,
    /// Whether it is a component (of the `wasi:http/proxy` world) rather than a module.
    pub component: bool,
}

/// Why a module is refused. Every message says what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    /// Larger than allowed.
    #[error("Module is {size_bytes} bytes; the limit is {limit_bytes}")]
    TooLarge {
        /// Its size.
        size_bytes: usize,
        /// The limit.
        limit_bytes: usize,
    },
    /// Not WebAssembly at all.
    #[error("Not a WebAssembly module (it must start with the bytes \\0asm)")]
    NotWasm,
    /// A component imports an interface Flint does not provide.
    #[error(
        "Component import {name} is not provided by Flint (it serves the wasi:http/proxy world, 0.2.0 to 0.2.12, with wasi:cli environment, exit and terminals, wasi:filesystem without preopens, and wasi:sockets whose calls trap)"
    )]
    ComponentImport {
        /// The import's name.
        name: String,
    },
    /// A component does not export the handler.
    #[error(
        "Component does not export wasi:http/incoming-handler@0.2.x (exports: {exports:?}); build it for the wasi:http/proxy world"
    )]
    ComponentExport {
        /// What it exports.
        exports: Vec<String>,
    },
    /// Does not validate.
    #[error("Invalid WebAssembly: {0}")]
    Invalid(String),
    /// Imports something Flint does not provide.
    #[error(
        "Import {module}.{name} is not provided by Flint (it provides wasi_snapshot_preview1 and flint)"
    )]
    UnknownImport {
        /// Import module.
        module: String,
        /// Import name.
        name: String,
    },
    /// Imports a provided function with another signature.
    #[error("Import {module}.{name} has type {found}; Flint provides {expected}")]
    ImportSignature {
        /// Import module.
        module: String,
        /// Import name.
        name: String,
        /// Flint's signature.
        expected: String,
        /// The module's.
        found: String,
    },
    /// Imports a memory, table, global or tag.
    #[error("Import {module}.{name} is a {kind}; Flint provides only functions")]
    UnsupportedImport {
        /// Import module.
        module: String,
        /// Import name.
        name: String,
        /// What it is.
        kind: &'static str,
    },
    /// The entry point is missing.
    #[error(
        "Module does not export {export:?} (exports: {exports:?}); build it as a WASI command or name the export to call"
    )]
    MissingEntry {
        /// The expected export.
        export: String,
        /// What it exports.
        exports: Vec<String>,
    },
    /// The entry point is not a function taking and returning nothing.
    #[error(
        "Export {export:?} must be a function with no parameters and no results, found {found}"
    )]
    EntrySignature {
        /// The export.
        export: String,
        /// What it is.
        found: String,
    },
    /// Uses WASI or `flint` imports without exporting its memory as `memory`.
    #[error("Module imports WASI or flint functions but exports no memory named \"memory\"")]
    MissingMemoryExport,
    /// Its initial memory exceeds the limit.
    #[error(
        "Module needs {minimum_bytes} bytes of memory at start; the function's limit is {limit_bytes}"
    )]
    MemoryTooLarge {
        /// Initial size.
        minimum_bytes: u64,
        /// The limit.
        limit_bytes: u64,
    },
    /// Uses 64-bit or shared memory.
    #[error("Module uses {0} memory, which Flint does not support")]
    UnsupportedMemory(&'static str),
}

fn signature(params: &[ValType], results: &[ValType]) -> String {
    let list = |v: &[ValType]| {
        v.iter()
            .map(|t| format!("{t}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!("({}) -> ({})", list(params), list(results))
}

fn ty_signature(params: &[Ty], results: &[Ty]) -> String {
    let to = |v: &[Ty]| -> Vec<ValType> {
        v.iter()
            .map(|t| match t {
                Ty::I32 => ValType::I32,
                Ty::I64 => ValType::I64,
            })
            .collect()
    };
    signature(&to(params), &to(results))
}

struct Sections {
    types: Vec<(Vec<ValType>, Vec<ValType>)>,
    func_types: Vec<u32>,
    imported_funcs: u32,
    info: ModuleInfo,
    exports: Vec<(String, ExternalKind, u32)>,
    memory_min_pages: Option<u64>,
}

fn read_sections(wasm: &[u8]) -> Result<Sections, ValidationError> {
    let invalid =
        |e: wasmparser::BinaryReaderError| ValidationError::Invalid(e.message().to_string());
    let mut s = Sections {
        types: Vec::new(),
        func_types: Vec::new(),
        imported_funcs: 0,
        info: ModuleInfo::default(),
        exports: Vec::new(),
        memory_min_pages: None,
    };
    let mut imports = Vec::new();
    for payload in Parser::new(0).parse_all(wasm) {
        match payload.map_err(invalid)? {
            Payload::TypeSection(r) => {
                for group in r.into_iter_err_on_gc_types() {
                    let f = group.map_err(invalid)?;
                    s.types.push((f.params().to_vec(), f.results().to_vec()));
                }
            }
            Payload::ImportSection(r) => {
                for import in r.into_imports() {
                    imports.push(import.map_err(invalid)?);
                }
            }
            Payload::FunctionSection(r) => {
                for f in r {
                    s.func_types.push(f.map_err(invalid)?);
                }
            }
            Payload::MemorySection(r) => {
                for m in r {
                    let m = m.map_err(invalid)?;
                    if m.memory64 {
                        return Err(ValidationError::UnsupportedMemory("64-bit"));
                    }
                    if m.shared {
                        return Err(ValidationError::UnsupportedMemory("shared"));
                    }
                    s.memory_min_pages.get_or_insert(m.initial);
                }
            }
            Payload::ExportSection(r) => {
                for e in r {
                    let e = e.map_err(invalid)?;
                    s.exports.push((e.name.to_string(), e.kind, e.index));
                }
            }
            _ => {}
        }
    }
    for import in imports {
        check_import(&mut s, &import)?;
    }
    Ok(s)
}

fn check_import(s: &mut Sections, import: &wasmparser::Import<'_>) -> Result<(), ValidationError> {
    let (module, name) = (import.module.to_string(), import.name.to_string());
    let kind = match import.ty {
        TypeRef::Func(t) => t,
        TypeRef::Memory(_) => {
            return Err(ValidationError::UnsupportedImport {
                module,
                name,
                kind: "memory",
            });
        }
        TypeRef::Table(_) => {
            return Err(ValidationError::UnsupportedImport {
                module,
                name,
                kind: "table",
            });
        }
        TypeRef::Global(_) => {
            return Err(ValidationError::UnsupportedImport {
                module,
                name,
                kind: "global",
            });
        }
        _ => {
            return Err(ValidationError::UnsupportedImport {
                module,
                name,
                kind: "tag",
            });
        }
    };
    let Some(provided) = imports::find(&module, &name) else {
        return Err(ValidationError::UnknownImport { module, name });
    };
    let (params, results) =
        s.types.get(kind as usize).cloned().ok_or_else(|| {
            ValidationError::Invalid(format!("import {module}.{name} has no type"))
        })?;
    let expected = ty_signature(provided.params, provided.results);
    let found = signature(&params, &results);
    if expected != found {
        return Err(ValidationError::ImportSignature {
            module,
            name,
            expected,
            found,
        });
    }
    s.imported_funcs += 1;
    s.info.imports.push((module, name));
    Ok(())
}

fn check_entry(s: &Sections, entry: &str) -> Result<(), ValidationError> {
    let Some((_, kind, index)) = s.exports.iter().find(|(n, _, _)| n == entry) else {
        return Err(ValidationError::MissingEntry {
            export: entry.to_string(),
            exports: s.info.exports.clone(),
        });
    };
    let not_func = |found: String| ValidationError::EntrySignature {
        export: entry.to_string(),
        found,
    };
    if *kind != ExternalKind::Func {
        return Err(not_func(format!("a {kind:?} export")));
    }
    // Imported functions come first in the function index space.
    let ty = match index.checked_sub(s.imported_funcs) {
        Some(local) => s.func_types.get(local as usize).copied(),
        None => None,
    };
    let (params, results) = ty
        .and_then(|t| s.types.get(t as usize))
        .ok_or_else(|| not_func("a re-exported import".to_string()))?;
    if !params.is_empty() || !results.is_empty() {
        return Err(not_func(signature(params, results)));
    }
    Ok(())
}

/// Validates `wasm` for `limits` (see [`ValidationError`] for each reason to refuse).
pub fn validate(
    engine: &Engine,
    wasm: &[u8],
    limits: &ModuleLimits,
) -> Result<ModuleInfo, ValidationError> {
    if wasm.len() > limits.max_module_bytes {
        return Err(ValidationError::TooLarge {
            size_bytes: wasm.len(),
            limit_bytes: limits.max_module_bytes,
        });
    }
    if !wasm.starts_with(b"\0asm") {
        return Err(ValidationError::NotWasm);
    }
    if Parser::is_component(wasm) {
        return crate::component::validate(wasm, limits);
    }
    let mut s = read_sections(wasm)?;
    wasmtime::Module::validate(engine, wasm)
        .map_err(|e| ValidationError::Invalid(format!("{e:#}")))?;
    s.info.exports = s.exports.iter().map(|(n, _, _)| n.clone()).collect();
    s.info.has_initialize = s.info.exports.iter().any(|e| e == "_initialize");
    check_entry(&s, &limits.entry)?;
    let exports_memory = s
        .exports
        .iter()
        .any(|(n, k, _)| n == "memory" && *k == ExternalKind::Memory);
    if !s.info.imports.is_empty() && !exports_memory {
        return Err(ValidationError::MissingMemoryExport);
    }
    let minimum_bytes = s
        .memory_min_pages
        .unwrap_or(0)
        .saturating_mul(WASM_PAGE_BYTES);
    if minimum_bytes > limits.memory_limit_bytes {
        return Err(ValidationError::MemoryTooLarge {
            minimum_bytes,
            limit_bytes: limits.memory_limit_bytes,
        });
    }
    s.info.memory_min_bytes = minimum_bytes;
    Ok(s.info)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Compiler;

    fn check(wat: &str) -> Result<ModuleInfo, ValidationError> {
        check_with(wat, &ModuleLimits::default())
    }

    fn check_with(wat: &str, limits: &ModuleLimits) -> Result<ModuleInfo, ValidationError> {
        let wasm = wat::parse_str(wat).expect("test WAT parses");
        Compiler::new().unwrap().validate(&wasm, limits)
    }

    const HELLO: &str = r#"(module
        (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
        (memory (export "memory") 1)
        (func (export "_start")))"#;

    #[test]
    fn accepts_a_wasi_command() {
        let info = check(HELLO).unwrap();
        assert_eq!(
            info.imports,
            vec![("wasi_snapshot_preview1".into(), "fd_write".into())]
        );
        assert_eq!(info.memory_min_bytes, 64 << 10);
        assert!(!info.has_initialize);
    }

    #[test]
    fn refuses_what_flint_does_not_provide() {
        let unknown = r#"(module (import "env" "printf" (func)) (func (export "_start")))"#;
        assert_eq!(
            check(unknown),
            Err(ValidationError::UnknownImport {
                module: "env".into(),
                name: "printf".into()
            })
        );
        let wrong = r#"(module (import "wasi_snapshot_preview1" "fd_write" (func (param i32)))
            (memory (export "memory") 1) (func (export "_start")))"#;
        assert!(matches!(
            check(wrong),
            Err(ValidationError::ImportSignature { .. })
        ));
        let memory = r#"(module (import "env" "memory" (memory 1)) (func (export "_start")))"#;
        assert!(matches!(
            check(memory),
            Err(ValidationError::UnsupportedImport { kind: "memory", .. })
        ));
    }

    #[test]
    fn requires_the_entry_point_and_memory_export() {
        let no_start = r#"(module (func (export "main")))"#;
        assert!(matches!(
            check(no_start),
            Err(ValidationError::MissingEntry { .. })
        ));
        let limits = ModuleLimits {
            entry: "main".into(),
            ..ModuleLimits::default()
        };
        assert!(check_with(no_start, &limits).is_ok());
        let bad_sig = r#"(module (func (export "_start") (param i32)))"#;
        assert!(matches!(
            check(bad_sig),
            Err(ValidationError::EntrySignature { .. })
        ));
        let no_memory = r#"(module (import "wasi_snapshot_preview1" "sched_yield" (func (result i32)))
            (func (export "_start")))"#;
        assert_eq!(check(no_memory), Err(ValidationError::MissingMemoryExport));
    }

    #[test]
    fn refuses_garbage_components_and_oversize() {
        let c = Compiler::new().unwrap();
        let limits = ModuleLimits::default();
        assert_eq!(
            c.validate(b"MZ\x90\0", &limits),
            Err(ValidationError::NotWasm)
        );
        assert!(matches!(
            c.validate(b"\0asm\x01\0\0\0\xff", &limits),
            Err(ValidationError::Invalid(_))
        ));
        let component = b"\0asm\x0d\0\x01\0";
        assert!(matches!(
            c.validate(component, &limits),
            Err(ValidationError::ComponentExport { .. })
        ));
        let small = ModuleLimits {
            max_module_bytes: 4,
            ..ModuleLimits::default()
        };
        assert!(matches!(
            c.validate(b"\0asm\x01\0\0\0", &small),
            Err(ValidationError::TooLarge { .. })
        ));
    }

    #[test]
    fn refuses_memory_beyond_the_limit() {
        let big = r#"(module (memory (export "memory") 100) (func (export "_start")))"#;
        let limits = ModuleLimits {
            memory_limit_bytes: 1 << 20,
            ..ModuleLimits::default()
        };
        assert!(matches!(
            check_with(big, &limits),
            Err(ValidationError::MemoryTooLarge { .. })
        ));
    }

    #[test]
    fn compiles_with_a_stable_fingerprint() {
        let c = Compiler::new().unwrap();
        let wasm = wat::parse_str(HELLO).unwrap();
        let a = c.compile(&wasm, &ModuleLimits::default()).unwrap();
        assert!(c.accepts(&a));
        assert_eq!(Compiler::new().unwrap().fingerprint(), c.fingerprint());
        assert!(c.fingerprint().starts_with("wasmtime-48.0.8-"));
    }
}
