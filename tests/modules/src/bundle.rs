//! The file tree the filesystem tests deploy with `fs.c`, and tar archives of directories.

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

/// A fresh, empty directory under the system's temporary directory, unique to this call.
pub fn scratch_dir(label: &str) -> PathBuf {
    static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("flint-{label}-{}-{call}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create a scratch directory");
    dir
}

/// Writes the tree `fs.c` expects into `root`: files, a nested directory, and symlinks that stay
/// inside, escape with `..`, escape with an absolute target, and loop.
pub fn write_fs_tree(root: &Path) {
    let file = |p: &str, s: &str| std::fs::write(root.join(p), s).expect("write a bundle file");
    std::fs::create_dir_all(root.join("data/nested")).expect("create bundle dirs");
    std::fs::create_dir_all(root.join("links")).expect("create bundle dirs");
    file("hello.txt", "hello from the bundle\n");
    file("data/a.txt", "alpha");
    file("data/nested/b.txt", "bravo");
    let link = |target: &str, p: &str| symlink(target, root.join(p)).expect("create a symlink");
    link("../data/a.txt", "links/to_a");
    link("../data/nested", "links/to_nested");
    link("../../etc/passwd", "links/escape");
    link("/etc/passwd", "links/abs");
    link("loop", "links/loop");
}

/// A tar archive of everything under `root` (paths relative to it; symlinks kept as links).
pub fn tar_of(root: &Path) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    builder.follow_symlinks(false);
    builder.append_dir_all(".", root).expect("archive the tree");
    builder.into_inner().expect("finish the archive")
}

/// The archive of the `fs.c` tree.
pub fn fs_tree_tar() -> Vec<u8> {
    let dir = scratch_dir("fs-tree");
    write_fs_tree(&dir);
    let tar = tar_of(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    tar
}
