//! What Flint accepts as a component: one that validates, imports only interfaces of the
//! `wasi:http/proxy` world (0.2.x) and the `wasi:cli`, `wasi:random` and `wasi:filesystem`
//! interfaces toolchains' runtimes import next to it (the `flint:serve/serve` world in
//! `platform/wasi/wit`, which the guest runtime provides whole: `flint_wasi::component`), and
//! exports `wasi:http/incoming-handler`.

use wasmparser::{Parser, Payload, Validator, WasmFeatures};

use crate::validate::{ModuleInfo, ModuleLimits, ValidationError};

/// The interfaces a component may import, each at `@0.2.x` up to [`NEWEST_MINOR_PATCH`].
pub const PROVIDED: &[&str] = &[
    "wasi:io/error",
    "wasi:io/poll",
    "wasi:io/streams",
    "wasi:clocks/monotonic-clock",
    "wasi:clocks/wall-clock",
    "wasi:random/random",
    "wasi:cli/stdout",
    "wasi:cli/stderr",
    "wasi:cli/stdin",
    "wasi:cli/environment",
    "wasi:cli/exit",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:cli/terminal-stderr",
    "wasi:random/insecure",
    "wasi:random/insecure-seed",
    "wasi:filesystem/types",
    "wasi:filesystem/preopens",
    "wasi:http/types",
    "wasi:http/outgoing-handler",
    // Linked so that runtimes whose libc imports them load; every call traps: a function
    // reaches the network through `wasi:http/outgoing-handler` only.
    "wasi:sockets/network",
    "wasi:sockets/instance-network",
    "wasi:sockets/tcp",
    "wasi:sockets/tcp-create-socket",
    "wasi:sockets/udp",
    "wasi:sockets/udp-create-socket",
    "wasi:sockets/ip-name-lookup",
];

/// The export a component serves requests with.
pub const HANDLER: &str = "wasi:http/incoming-handler";

/// The newest WASI 0.2 patch release whose definitions Flint has (`platform/wasi/wit`).
pub const NEWEST_MINOR_PATCH: u32 = 12;

/// The interface of a versioned name (`wasi:io/error@0.2.3` -> `wasi:io/error`) if its version
/// is one Flint serves.
fn served(name: &str) -> Option<&str> {
    let (interface, version) = name.split_once('@')?;
    let patch = version.strip_prefix("0.2.")?;
    let patch: u32 = patch.split(['-', '+']).next()?.parse().ok()?;
    (patch <= NEWEST_MINOR_PATCH).then_some(interface)
}

/// Validates the component `wasm` (already known to be one, and within the size limit).
pub fn validate(wasm: &[u8], _limits: &ModuleLimits) -> Result<ModuleInfo, ValidationError> {
    let mut validator = Validator::new_with_features(WasmFeatures::default());
    validator
        .validate_all(wasm)
        .map_err(|e| ValidationError::Invalid(e.message().to_string()))?;
    let mut info = ModuleInfo {
        component: true,
        ..ModuleInfo::default()
    };
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(wasm) {
        let payload = payload.map_err(|e| ValidationError::Invalid(e.message().to_string()))?;
        match payload {
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            // Only the outer component's imports and exports face Flint.
            Payload::ComponentImportSection(r) if depth == 0 => {
                for import in r {
                    let import =
                        import.map_err(|e| ValidationError::Invalid(e.message().to_string()))?;
                    let name = import.name.name.to_string();
                    if !served(&name).is_some_and(|i| PROVIDED.contains(&i)) {
                        return Err(ValidationError::ComponentImport { name });
                    }
                    info.imports.push((name, String::new()));
                }
            }
            Payload::ComponentExportSection(r) if depth == 0 => {
                for export in r {
                    let export =
                        export.map_err(|e| ValidationError::Invalid(e.message().to_string()))?;
                    info.exports.push(export.name.name.to_string());
                }
            }
            _ => {}
        }
    }
    if !info.exports.iter().any(|e| served(e) == Some(HANDLER)) {
        return Err(ValidationError::ComponentExport {
            exports: info.exports,
        });
    }
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_up_to_the_newest_known_are_served() {
        assert_eq!(served("wasi:io/error@0.2.0"), Some("wasi:io/error"));
        assert_eq!(served("wasi:io/error@0.2.12"), Some("wasi:io/error"));
        assert_eq!(served("wasi:io/error@0.2.13"), None);
        assert_eq!(served("wasi:io/error@0.3.0"), None);
        assert_eq!(
            served("wasi:io/error@0.2.0-rc-2023-11-10"),
            Some("wasi:io/error")
        );
        assert_eq!(served("wasi:io/error"), None);
    }
}
