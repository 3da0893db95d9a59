//! The WASI preview 1 numbers Flint answers with: errnos, file types, rights, flags (one
//! definition for `preview1`, the filesystem and the stubs).
#![allow(missing_docs, reason = "each name is the WASI specification's own")]

/// A WASI errno.
pub type Errno = i32;

pub const SUCCESS: Errno = 0;
pub const EACCES: Errno = 2;
pub const EBADF: Errno = 8;
pub const EEXIST: Errno = 20;
pub const EFAULT: Errno = 21;
pub const EFBIG: Errno = 22;
pub const EINVAL: Errno = 28;
pub const EISDIR: Errno = 31;
pub const ELOOP: Errno = 32;
pub const EILSEQ: Errno = 25;
pub const ENAMETOOLONG: Errno = 37;
pub const ENOENT: Errno = 44;
pub const ENOSPC: Errno = 51;
pub const ENOSYS: Errno = 52;
pub const ENOTDIR: Errno = 54;
pub const ENOTEMPTY: Errno = 55;
pub const ENOTSOCK: Errno = 57;
pub const ENOTSUP: Errno = 58;
pub const EPERM: Errno = 63;
pub const ESPIPE: Errno = 70;
pub const EXDEV: Errno = 75;
pub const ENOTCAPABLE: Errno = 76;

pub const FILETYPE_CHARACTER_DEVICE: u8 = 2;
pub const FILETYPE_DIRECTORY: u8 = 3;
pub const FILETYPE_REGULAR_FILE: u8 = 4;
pub const FILETYPE_SYMBOLIC_LINK: u8 = 7;

pub const RIGHT_FD_DATASYNC: u64 = 1 << 0;
pub const RIGHT_FD_READ: u64 = 1 << 1;
pub const RIGHT_FD_SEEK: u64 = 1 << 2;
pub const RIGHT_FD_FDSTAT_SET_FLAGS: u64 = 1 << 3;
pub const RIGHT_FD_SYNC: u64 = 1 << 4;
pub const RIGHT_FD_TELL: u64 = 1 << 5;
pub const RIGHT_FD_WRITE: u64 = 1 << 6;
pub const RIGHT_FD_ADVISE: u64 = 1 << 7;
pub const RIGHT_FD_ALLOCATE: u64 = 1 << 8;
pub const RIGHT_FD_READDIR: u64 = 1 << 14;
pub const RIGHT_FD_FILESTAT_GET: u64 = 1 << 21;
pub const RIGHT_FD_FILESTAT_SET_SIZE: u64 = 1 << 22;
pub const RIGHT_FD_FILESTAT_SET_TIMES: u64 = 1 << 23;
pub const RIGHT_POLL_FD_READWRITE: u64 = 1 << 27;
/// Every right a directory descriptor may hold (bits 0 to 28).
pub const RIGHTS_ALL: u64 = (1 << 29) - 1;

pub const OFLAGS_CREAT: u16 = 1;
pub const OFLAGS_DIRECTORY: u16 = 2;
pub const OFLAGS_EXCL: u16 = 4;
pub const OFLAGS_TRUNC: u16 = 8;

pub const FDFLAGS_APPEND: u16 = 1;

pub const LOOKUP_SYMLINK_FOLLOW: u32 = 1;

pub const FSTFLAGS_ATIM: u16 = 1;
pub const FSTFLAGS_ATIM_NOW: u16 = 2;
pub const FSTFLAGS_MTIM: u16 = 4;
pub const FSTFLAGS_MTIM_NOW: u16 = 8;
