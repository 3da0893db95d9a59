//! Every import Flint provides to a module, with its signature: the whole of WASI preview 1
//! (`wasi_snapshot_preview1`, listed here) and Flint's `flint` module (declared in
//! [`flint_abi::host_fn`]). The host's validator accepts a module only if each of its imports is
//! one of these with the same signature.

use flint_abi::host_fn::HOST_FUNCTIONS;
use wasmtime::{Caller, FuncType, Linker, Val, ValType};

use crate::WasiView;
use crate::errno::{EBADF, ENOSYS, ENOTSOCK};
use crate::preview1::IMPLEMENTED;

/// One provided import.
pub use flint_abi::host_fn::WasmImport as Import;
/// A value type in an import signature.
pub use flint_abi::host_fn::WasmType as Ty;

/// The WASI preview 1 module name.
pub const WASI: &str = "wasi_snapshot_preview1";
/// Flint's own module name.
pub const FLINT: &str = flint_abi::host_fn::FLINT_MODULE;

use Ty::{I32, I64};

const fn wasi(name: &'static str, params: &'static [Ty], results: &'static [Ty]) -> Import {
    Import {
        module: WASI,
        name,
        params,
        results,
    }
}

const R: &[Ty] = &[I32];

/// Every WASI preview 1 import (Flint's own are [`HOST_FUNCTIONS`]; [`all`] yields both).
pub const WASI_IMPORTS: &[Import] = &[
    wasi("args_get", &[I32, I32], R),
    wasi("args_sizes_get", &[I32, I32], R),
    wasi("environ_get", &[I32, I32], R),
    wasi("environ_sizes_get", &[I32, I32], R),
    wasi("clock_res_get", &[I32, I32], R),
    wasi("clock_time_get", &[I32, I64, I32], R),
    wasi("fd_advise", &[I32, I64, I64, I32], R),
    wasi("fd_allocate", &[I32, I64, I64], R),
    wasi("fd_close", &[I32], R),
    wasi("fd_datasync", &[I32], R),
    wasi("fd_fdstat_get", &[I32, I32], R),
    wasi("fd_fdstat_set_flags", &[I32, I32], R),
    wasi("fd_fdstat_set_rights", &[I32, I64, I64], R),
    wasi("fd_filestat_get", &[I32, I32], R),
    wasi("fd_filestat_set_size", &[I32, I64], R),
    wasi("fd_filestat_set_times", &[I32, I64, I64, I32], R),
    wasi("fd_pread", &[I32, I32, I32, I64, I32], R),
    wasi("fd_prestat_get", &[I32, I32], R),
    wasi("fd_prestat_dir_name", &[I32, I32, I32], R),
    wasi("fd_pwrite", &[I32, I32, I32, I64, I32], R),
    wasi("fd_read", &[I32, I32, I32, I32], R),
    wasi("fd_readdir", &[I32, I32, I32, I64, I32], R),
    wasi("fd_renumber", &[I32, I32], R),
    wasi("fd_seek", &[I32, I64, I32, I32], R),
    wasi("fd_sync", &[I32], R),
    wasi("fd_tell", &[I32, I32], R),
    wasi("fd_write", &[I32, I32, I32, I32], R),
    wasi("path_create_directory", &[I32, I32, I32], R),
    wasi("path_filestat_get", &[I32, I32, I32, I32, I32], R),
    wasi(
        "path_filestat_set_times",
        &[I32, I32, I32, I32, I64, I64, I32],
        R,
    ),
    wasi("path_link", &[I32, I32, I32, I32, I32, I32, I32], R),
    wasi(
        "path_open",
        &[I32, I32, I32, I32, I32, I64, I64, I32, I32],
        R,
    ),
    wasi("path_readlink", &[I32, I32, I32, I32, I32, I32], R),
    wasi("path_remove_directory", &[I32, I32, I32], R),
    wasi("path_rename", &[I32, I32, I32, I32, I32, I32], R),
    wasi("path_symlink", &[I32, I32, I32, I32, I32], R),
    wasi("path_unlink_file", &[I32, I32, I32], R),
    wasi("poll_oneoff", &[I32, I32, I32, I32], R),
    wasi("proc_exit", &[I32], &[]),
    wasi("proc_raise", &[I32], R),
    wasi("sched_yield", &[], R),
    wasi("random_get", &[I32, I32], R),
    wasi("sock_accept", &[I32, I32, I32], R),
    wasi("sock_recv", &[I32, I32, I32, I32, I32, I32], R),
    wasi("sock_send", &[I32, I32, I32, I32, I32], R),
    wasi("sock_shutdown", &[I32, I32], R),
];

/// Every import Flint provides: WASI's, then Flint's own.
pub fn all() -> impl Iterator<Item = &'static Import> {
    WASI_IMPORTS
        .iter()
        .chain(HOST_FUNCTIONS.iter().map(|f| &f.import))
}

/// The import `module.name`, if Flint provides it.
pub fn find(module: &str, name: &str) -> Option<&'static Import> {
    all().find(|i| i.module == module && i.name == name)
}

fn val_type(t: Ty) -> ValType {
    match t {
        Ty::I32 => ValType::I32,
        Ty::I64 => ValType::I64,
    }
}

/// The errno a WASI function that Flint does not implement (the socket functions, `proc_raise`)
/// returns.
fn stub_errno(name: &str, first: Option<&Val>) -> i32 {
    let fd = first.and_then(Val::i32);
    let is_stdio = matches!(fd, Some(0..=2));
    if name.starts_with("sock_") {
        if is_stdio { ENOTSOCK } else { EBADF }
    } else if name.starts_with("fd_") || name.starts_with("path_") {
        if is_stdio && name.starts_with("fd_") {
            ENOSYS
        } else {
            EBADF
        }
    } else {
        ENOSYS
    }
}

/// Defines every WASI import that [`crate::preview1`] does not implement, returning an errno.
pub(crate) fn add_stubs<T: WasiView + 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    let engine = linker.engine().clone();
    for import in WASI_IMPORTS {
        if IMPLEMENTED.contains(&import.name) || crate::fs::calls::NAMES.contains(&import.name) {
            continue;
        }
        let ty = FuncType::new(
            &engine,
            import.params.iter().map(|&t| val_type(t)),
            import.results.iter().map(|&t| val_type(t)),
        );
        let name = import.name;
        linker.func_new(
            WASI,
            name,
            ty,
            move |_: Caller<'_, T>, params: &[Val], results: &mut [Val]| {
                if let Some(r) = results.first_mut() {
                    *r = Val::I32(stub_errno(name, params.first()));
                }
                Ok(())
            },
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique() {
        let imports: alloc::vec::Vec<&Import> = all().collect();
        for (i, a) in imports.iter().enumerate() {
            for b in &imports[i + 1..] {
                assert!(a.module != b.module || a.name != b.name, "{}", a.name);
            }
        }
        assert!(WASI_IMPORTS.iter().all(|i| i.module == WASI));
        assert_eq!(WASI_IMPORTS.len(), 46);
    }

    #[test]
    fn every_implemented_function_is_in_the_table() {
        for name in IMPLEMENTED.iter().chain(crate::fs::calls::NAMES) {
            assert!(find(WASI, name).is_some(), "{name}");
        }
    }

    #[test]
    fn stubs_answer_with_the_right_errno() {
        assert_eq!(stub_errno("path_open", Some(&Val::I32(3))), EBADF);
        assert_eq!(stub_errno("fd_pread", Some(&Val::I32(0))), ENOSYS);
        assert_eq!(stub_errno("fd_pread", Some(&Val::I32(9))), EBADF);
        assert_eq!(stub_errno("sock_recv", Some(&Val::I32(1))), ENOTSOCK);
        assert_eq!(stub_errno("proc_raise", Some(&Val::I32(9))), ENOSYS);
    }
}
