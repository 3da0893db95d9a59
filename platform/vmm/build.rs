//! Builds the guest runtime (`guest-runtime/`, its own crate with freestanding flags) and
//! exposes the path of the resulting ELF to the crate as `FLINT_GUEST_ELF`. With this crate's
//! `hostile-guest` feature (its own tests turn it on) it also builds the guest with its
//! deliberately hostile functions, as `FLINT_HOSTILE_GUEST_ELF`; the guest Flint ships never
//! has them.
//!
//! The nested `cargo build` runs on every build of this crate whose inputs changed (the guest's
//! sources, its manifest, the ABI and WASI crates it links); cargo's own freshness check inside it decides what to
//! recompile, so a stale guest is never embedded silently. It uses one target directory beside
//! the host's (`<target>/flint-guest`), shared by every host profile.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest_dir
        .join("../..")
        .canonicalize()
        .expect("workspace root");
    let guest = root.join("guest-runtime");
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo"));
    let target_dir = guest_target_dir(&out_dir);

    for watched in [
        "src",
        "Cargo.toml",
        "Cargo.lock",
        "build.rs",
        "link.ld",
        ".cargo",
    ] {
        println!("cargo:rerun-if-changed={}", guest.join(watched).display());
    }
    for dependency in ["platform/abi", "platform/wasi"] {
        for watched in ["src", "Cargo.toml"] {
            println!(
                "cargo:rerun-if-changed={}",
                root.join(dependency).join(watched).display()
            );
        }
    }
    println!("cargo:rerun-if-env-changed=FLINT_GUEST_TARGET_DIR");

    let elf = build_guest(&guest, &target_dir, &out_dir, false);
    println!("cargo:rustc-env=FLINT_GUEST_ELF={}", elf.display());
    if std::env::var_os("CARGO_FEATURE_HOSTILE_GUEST").is_some() {
        let hostile = build_guest(&guest, &target_dir, &out_dir, true);
        println!(
            "cargo:rustc-env=FLINT_HOSTILE_GUEST_ELF={}",
            hostile.display()
        );
    }
}

/// Builds the guest (with its `hostile` feature or without) and copies the ELF into `out_dir`,
/// since both builds share one target directory.
fn build_guest(guest: &Path, target_dir: &Path, out_dir: &Path, hostile: bool) -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(guest)
        .args([
            "build",
            "--release",
            "--locked",
            "--target",
            "x86_64-unknown-linux-gnu",
        ])
        .arg("--target-dir")
        .arg(target_dir);
    if hostile {
        cmd.args(["--features", "hostile"]);
    }
    // The guest's flags come from guest-runtime/.cargo/config.toml; nothing of the host build's
    // configuration may leak into it.
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET_DIR",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CLIPPY_ARGS",
        "CARGO_PROFILE_RELEASE_DEBUG",
        "CARGO_PROFILE_RELEASE_LTO",
        "CARGO_PROFILE_RELEASE_PANIC",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd.status().expect("run cargo for the guest runtime");
    assert!(status.success(), "building guest-runtime failed: {status}");
    let built = target_dir.join("x86_64-unknown-linux-gnu/release/flint-guest");
    let name = if hostile {
        "flint-guest-hostile"
    } else {
        "flint-guest"
    };
    let elf = out_dir.join(name);
    std::fs::copy(&built, &elf)
        .unwrap_or_else(|e| panic!("copy the guest runtime from {}: {e}", built.display()));
    elf
}

/// `<target>/flint-guest`, where `<target>` is the host's target directory (found from
/// `OUT_DIR` = `<target>[/<triple>]/<profile>/build/<pkg>-<hash>/out`), unless
/// `FLINT_GUEST_TARGET_DIR` says otherwise.
fn guest_target_dir(out_dir: &Path) -> PathBuf {
    if let Ok(dir) = std::env::var("FLINT_GUEST_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    out_dir
        .ancestors()
        .nth(4)
        .map(|t| t.join("flint-guest"))
        .unwrap_or_else(|| out_dir.join("flint-guest"))
}
