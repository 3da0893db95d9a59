// Exercises the WASI preview 1 filesystem: the bundled tree read-only at /, scratch at /tmp.
// Prints one line per case: "ok ..." or the errno's name. The same module runs in the micro-VM,
// in-process with Flint's WASI, and under wasmtime-wasi over real directories; all three must
// print the same. Expects the bundle of tests/modules/fs_bundle (see the tests).
//
// argv[1]: "suite" (default), "persist" (is a previous run's scratch file still there?),
// "fill" (write /tmp until it is full).
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <wasi/api.h>

static const char *name(int e) {
    switch (e) {
    case 0: return "ok";
    case EACCES: return "EACCES";
    case EBADF: return "EBADF";
    case EEXIST: return "EEXIST";
    case EINVAL: return "EINVAL";
    case EISDIR: return "EISDIR";
    case ELOOP: return "ELOOP";
    case ENOENT: return "ENOENT";
    case ENOSPC: return "ENOSPC";
    case ENOTDIR: return "ENOTDIR";
    case ENOTEMPTY: return "ENOTEMPTY";
    case ENOTCAPABLE: return "ENOTCAPABLE";
    case EPERM: return "EPERM";
    case EROFS: return "EROFS";
    case ESPIPE: return "ESPIPE";
    case EXDEV: return "EXDEV";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case EFBIG: return "EFBIG";
    case ENOTSUP: return "ENOTSUP";
    default: return "other";
    }
}

// One case: the call's result as "ok" or its errno.
#define CASE(label, expr)                                                        \
    do {                                                                         \
        errno = 0;                                                               \
        int r_ = (expr);                                                         \
        printf("%-28s %s\n", label, r_ < 0 ? name(errno) : "ok");                \
    } while (0)

// A raw WASI call's errno.
#define RAW(label, expr) printf("%-28s %s\n", label, name((int)(expr)))

static int slurp(const char *path, char *buf, size_t cap) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return -1;
    ssize_t n = read(fd, buf, cap - 1);
    int e = errno;
    close(fd);
    if (n < 0) { errno = e; return -1; }
    buf[n] = 0;
    return (int)n;
}

static void show_file(const char *label, const char *path) {
    char buf[256];
    errno = 0;
    int n = slurp(path, buf, sizeof buf);
    if (n < 0) printf("%-28s %s\n", label, name(errno));
    else printf("%-28s ok %d %s\n", label, n, buf);
}

static int cmp(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void list(const char *label, const char *path) {
    DIR *d = opendir(path);
    if (!d) { printf("%-28s %s\n", label, name(errno)); return; }
    char *names[64];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 64) {
        char kind = e->d_type == DT_DIR ? 'd' : e->d_type == DT_LNK ? 'l' : e->d_type == DT_REG ? 'f' : '?';
        names[n] = malloc(strlen(e->d_name) + 3);
        sprintf(names[n++], "%s:%c", e->d_name, kind);
    }
    closedir(d);
    qsort(names, n, sizeof names[0], cmp);
    printf("%-28s ok", label);
    for (int i = 0; i < n; i++) { printf(" %s", names[i]); free(names[i]); }
    printf("\n");
}

static void stat_of(const char *label, const char *path, int follow) {
    struct stat st;
    errno = 0;
    int r = follow ? stat(path, &st) : lstat(path, &st);
    if (r < 0) { printf("%-28s %s\n", label, name(errno)); return; }
    const char *t = S_ISDIR(st.st_mode) ? "dir" : S_ISLNK(st.st_mode) ? "symlink" : S_ISREG(st.st_mode) ? "file" : "other";
    if (S_ISDIR(st.st_mode)) printf("%-28s ok %s\n", label, t);
    else printf("%-28s ok %s size=%lld nlink=%llu\n", label, t, (long long)st.st_size, (unsigned long long)st.st_nlink);
}

static void readlink_of(const char *label, const char *path) {
    char buf[128];
    errno = 0;
    ssize_t n = readlink(path, buf, sizeof buf - 1);
    if (n < 0) { printf("%-28s %s\n", label, name(errno)); return; }
    buf[n] = 0;
    printf("%-28s ok %s\n", label, buf);
}

static void bundle(void) {
    show_file("read hello", "/hello.txt");
    show_file("read nested", "/data/nested/b.txt");
    show_file("read via dotdot inside", "/data/../hello.txt");
    show_file("read missing", "/nope.txt");
    show_file("read through symlink", "/links/to_a");
    show_file("read dir symlink", "/links/to_nested/b.txt");
    show_file("escape with dotdot", "/../etc/passwd");
    show_file("escape deep dotdot", "/data/../../etc/passwd");
    show_file("escape via symlink", "/links/escape");
    show_file("escape via abs symlink", "/links/abs");
    show_file("symlink loop", "/links/loop");
    show_file("file as directory", "/hello.txt/x");
    readlink_of("readlink", "/links/to_a");
    readlink_of("readlink not a link", "/hello.txt");
    readlink_of("readlink missing", "/links/none");
    stat_of("stat file", "/hello.txt", 1);
    stat_of("stat dir", "/data", 1);
    stat_of("lstat symlink", "/links/to_a", 0);
    stat_of("stat through symlink", "/links/to_a", 1);
    stat_of("stat missing", "/missing", 1);
    list("list root", "/");
    list("list data", "/data");
    list("list links", "/links");
    list("list file", "/hello.txt");
    CASE("open ro for write", open("/hello.txt", O_WRONLY));
    CASE("open ro for append", open("/hello.txt", O_WRONLY | O_APPEND));
    CASE("create in ro", open("/new.txt", O_WRONLY | O_CREAT, 0644));
    CASE("mkdir in ro", mkdir("/newdir", 0755));
    CASE("unlink in ro", unlink("/hello.txt"));
    CASE("rmdir in ro", rmdir("/data/nested"));
    CASE("rename in ro", rename("/hello.txt", "/data/x.txt"));
    CASE("symlink in ro", symlink("hello.txt", "/s"));
    CASE("truncate ro file", truncate("/hello.txt", 0));
    CASE("open dir with O_DIRECTORY", open("/data", O_RDONLY | O_DIRECTORY));
    CASE("open file with O_DIRECTORY", open("/hello.txt", O_RDONLY | O_DIRECTORY));
    CASE("rename ro to tmp", rename("/hello.txt", "/tmp/h.txt"));
}

static void scratch(void) {
    CASE("tmp mkdir", mkdir("/tmp/d", 0755));
    CASE("tmp mkdir again", mkdir("/tmp/d", 0755));
    int fd = open("/tmp/d/f.txt", O_RDWR | O_CREAT | O_TRUNC, 0644);
    printf("%-28s %s\n", "tmp create", fd < 0 ? name(errno) : "ok");
    CASE("write", (int)write(fd, "hello world", 11));
    CASE("pwrite", (int)pwrite(fd, "WORLD", 5, 6));
    char buf[64] = {0};
    errno = 0;
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    printf("%-28s %s %zd %s\n", "pread", n < 0 ? name(errno) : "ok", n, buf);
    printf("%-28s %lld\n", "tell after write", (long long)lseek(fd, 0, SEEK_CUR));
    printf("%-28s %lld\n", "seek end", (long long)lseek(fd, 0, SEEK_END));
    printf("%-28s %lld\n", "seek set", (long long)lseek(fd, 3, SEEK_SET));
    CASE("seek negative", (int)lseek(fd, -100, SEEK_SET));
    memset(buf, 0, sizeof buf);
    n = read(fd, buf, 4);
    printf("%-28s %zd %s\n", "read after seek", n, buf);
    CASE("fsync", fsync(fd));
    CASE("fdatasync", fdatasync(fd));
    CASE("ftruncate grow", ftruncate(fd, 20));
    struct stat st;
    fstat(fd, &st);
    printf("%-28s %lld\n", "size after grow", (long long)st.st_size);
    CASE("ftruncate shrink", ftruncate(fd, 5));
    fstat(fd, &st);
    printf("%-28s %lld\n", "size after shrink", (long long)st.st_size);
    CASE("pwrite past end", (int)pwrite(fd, "Z", 1, 9));
    memset(buf, 'x', sizeof buf);
    n = pread(fd, buf, sizeof buf, 0);
    printf("%-28s %zd %d %d %c\n", "hole reads zeros", n, buf[5], buf[8], buf[9]);
    errno = posix_fallocate(fd, 0, 32);
    printf("%-28s %s\n", "fallocate", name(errno));
    fstat(fd, &st);
    printf("%-28s %lld\n", "size after fallocate", (long long)st.st_size);
    close(fd);
    CASE("close twice", close(fd));
    fd = open("/tmp/d/f.txt", O_WRONLY | O_APPEND);
    CASE("append", (int)write(fd, "END", 3));
    CASE("read from write-only", (int)read(fd, buf, 4));
    close(fd);
    fd = open("/tmp/d/f.txt", O_RDONLY);
    CASE("write to read-only fd", (int)write(fd, "x", 1));
    close(fd);
    stat_of("stat after append", "/tmp/d/f.txt", 1);
    CASE("create exclusive existing", open("/tmp/d/f.txt", O_WRONLY | O_CREAT | O_EXCL, 0644));
    CASE("open dir for write", open("/tmp/d", O_WRONLY));
    CASE("open missing parent", open("/tmp/none/f.txt", O_WRONLY | O_CREAT, 0644));
    CASE("rmdir non-empty", rmdir("/tmp/d"));
    CASE("rmdir a file", rmdir("/tmp/d/f.txt"));
    CASE("unlink a dir", unlink("/tmp/d"));
    CASE("mkdir over file", mkdir("/tmp/d/f.txt", 0755));
    CASE("rename file", rename("/tmp/d/f.txt", "/tmp/g.txt"));
    show_file("read renamed", "/tmp/g.txt");
    show_file("old name gone", "/tmp/d/f.txt");
    CASE("mkdir e", mkdir("/tmp/e", 0755));
    CASE("rename file over dir", rename("/tmp/g.txt", "/tmp/e"));
    CASE("rename dir over file", rename("/tmp/e", "/tmp/g.txt"));
    CASE("rename dir into itself", rename("/tmp/e", "/tmp/e/sub"));
    CASE("rename missing", rename("/tmp/missing", "/tmp/x"));
    CASE("rename dir over empty dir", rename("/tmp/e", "/tmp/d"));
    CASE("rename dir over non-empty", (mkdir("/tmp/e", 0755), close(open("/tmp/e/z", O_CREAT | O_WRONLY, 0644)), rename("/tmp/d", "/tmp/e")));
    CASE("symlink", symlink("g.txt", "/tmp/link"));
    readlink_of("readlink tmp", "/tmp/link");
    show_file("read tmp symlink", "/tmp/link");
    CASE("symlink exists", symlink("g.txt", "/tmp/link"));
    CASE("symlink abs target", symlink("/etc/passwd", "/tmp/abs"));
    show_file("read abs symlink", "/tmp/abs");
    CASE("symlink escaping", symlink("../../etc", "/tmp/esc"));
    show_file("read escaping symlink", "/tmp/esc/passwd");
    CASE("unlink symlink", unlink("/tmp/link"));
    show_file("target kept", "/tmp/g.txt");
    CASE("hard link", link("/tmp/g.txt", "/tmp/h.txt"));
    stat_of("stat hard link", "/tmp/h.txt", 1);
    CASE("unlink original", unlink("/tmp/g.txt"));
    show_file("read via hard link", "/tmp/h.txt");
    CASE("link across preopens", link("/hello.txt", "/tmp/hh.txt"));
    CASE("rename across preopens", rename("/tmp/h.txt", "/h.txt"));
    CASE("unlink missing", unlink("/tmp/missing"));
    CASE("rmdir missing", rmdir("/tmp/missing"));
    CASE("trailing slash on file", open("/tmp/h.txt/", O_RDONLY));
    struct timespec times[2] = {{.tv_sec = 1000, .tv_nsec = 5}, {.tv_sec = 2000, .tv_nsec = 7}};
    CASE("utimensat", utimensat(AT_FDCWD, "/tmp/h.txt", times, 0));
    stat("/tmp/h.txt", &st);
    printf("%-28s %lld %ld %lld %ld\n", "times", (long long)st.st_atim.tv_sec, st.st_atim.tv_nsec, (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
    list("list tmp", "/tmp");
    list("list e", "/tmp/e");
}

// Raw calls: descriptor rights, preopens, bad descriptors.
static void raw(void) {
    for (int fd = 3; fd < 6; fd++) {
        __wasi_prestat_t p;
        __wasi_errno_t e = __wasi_fd_prestat_get(fd, &p);
        if (e) { printf("prestat %-20d %s\n", fd, name(e)); continue; }
        char dir[64] = {0};
        (void)!__wasi_fd_prestat_dir_name(fd, (uint8_t *)dir, p.u.dir.pr_name_len);
        printf("prestat %-20d ok %s\n", fd, dir);
    }
    __wasi_fd_t fd;
    __wasi_errno_t e = __wasi_path_open(4, 0, "wonly", __WASI_OFLAGS_CREAT, __WASI_RIGHTS_FD_WRITE, 0, 0, &fd);
    RAW("open write-only rights", e);
    uint8_t b[4];
    __wasi_iovec_t iov = {b, 4};
    __wasi_size_t n;
    RAW("read without read right", __wasi_fd_read(fd, &iov, 1, &n));
    __wasi_fdstat_t st;
    RAW("fdstat", __wasi_fd_fdstat_get(fd, &st));
    printf("%-28s %d %d %d\n", "fdstat file", st.fs_filetype, (st.fs_rights_base & __WASI_RIGHTS_FD_READ) != 0, (st.fs_rights_base & __WASI_RIGHTS_FD_WRITE) != 0);
    (void)!__wasi_fd_close(fd);
    RAW("prestat of a file fd", __wasi_fd_prestat_get(fd, &(__wasi_prestat_t){0}));
    RAW("read closed fd", __wasi_fd_read(fd, &iov, 1, &n));
    RAW("path_open bad fd", __wasi_path_open(99, 0, "x", 0, __WASI_RIGHTS_FD_READ, 0, 0, &fd));
    RAW("path_open on a file fd", ((void)!__wasi_path_open(3, 0, "hello.txt", 0, __WASI_RIGHTS_FD_READ, 0, 0, &fd), __wasi_path_open(fd, 0, "x", 0, __WASI_RIGHTS_FD_READ, 0, 0, &fd)));
    RAW("absolute path", __wasi_path_open(3, 0, "/hello.txt", 0, __WASI_RIGHTS_FD_READ, 0, 0, &fd));
    RAW("nofollow on symlink", __wasi_path_open(3, 0, "links/to_a", 0, __WASI_RIGHTS_FD_READ, 0, 0, &fd));
    RAW("follow on symlink", __wasi_path_open(3, __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW, "links/to_a", 0, __WASI_RIGHTS_FD_READ, 0, 0, &fd));
    RAW("seek on a dir", __wasi_fd_seek(3, 0, __WASI_WHENCE_SET, &(__wasi_filesize_t){0}));
    __wasi_fd_t other;
    RAW("open another", __wasi_path_open(3, 0, "data/a.txt", 0, __WASI_RIGHTS_FD_READ, 0, 0, &other));
    RAW("renumber onto it", __wasi_fd_renumber(fd, other));
    RAW("old number closed", __wasi_fd_read(fd, &iov, 1, &n));
    RAW("read renumbered", __wasi_fd_read(other, &iov, 1, &n));
    printf("%-28s %u %.4s\n", "renumbered reads", (unsigned)n, (char *)b);
    RAW("renumber to closed", __wasi_fd_renumber(other, 20));
    RAW("renumber bad", __wasi_fd_renumber(99, other));
    RAW("advise", __wasi_fd_advise(other, 0, 4, __WASI_ADVICE_SEQUENTIAL));
    RAW("allocate on ro file", __wasi_fd_allocate(other, 0, 100));
    RAW("set size on ro file", __wasi_fd_filestat_set_size(other, 0));
    RAW("set times on ro file", __wasi_fd_filestat_set_times(other, 1, 1, __WASI_FSTFLAGS_MTIM));
    RAW("sync ro file", __wasi_fd_sync(other));
    uint8_t dirbuf[256];
    __wasi_size_t used;
    RAW("readdir on a file", __wasi_fd_readdir(other, dirbuf, sizeof dirbuf, 0, &used));
    RAW("pread on a dir", __wasi_fd_pread(3, &iov, 1, 0, &n));
    RAW("read on a dir", __wasi_fd_read(3, &iov, 1, &n));
    RAW("write on a dir", __wasi_fd_write(3, &(__wasi_ciovec_t){b, 1}, 1, &n));
    RAW("dir name too short", __wasi_fd_prestat_dir_name(4, dirbuf, 2));
    RAW("filestat of a dir fd", __wasi_fd_filestat_get(3, &(__wasi_filestat_t){0}));
    RAW("create dir with path_open", __wasi_path_open(4, 0, "newdir", __WASI_OFLAGS_CREAT | __WASI_OFLAGS_DIRECTORY, __WASI_RIGHTS_FD_READ, 0, 0, &fd));
    RAW("unlink dot", __wasi_path_unlink_file(4, "."));
    RAW("rmdir dot", __wasi_path_remove_directory(4, "."));
    RAW("mkdir dot", __wasi_path_create_directory(4, "."));
    RAW("empty path", __wasi_path_open(3, 0, "", 0, __WASI_RIGHTS_FD_READ, 0, 0, &fd));
    RAW("filestat_get dotdot", __wasi_path_filestat_get(3, 0, "..", &(__wasi_filestat_t){0}));
}

static void persist(void) {
    int fd = open("/tmp/marker", O_RDONLY);
    printf("marker %s\n", fd < 0 ? "absent" : "present");
    if (fd >= 0) close(fd);
    fd = open("/tmp/marker", O_WRONLY | O_CREAT, 0644);
    write(fd, "x", 1);
    close(fd);
    mkdir("/tmp/dir", 0755);
}

static void fill(void) {
    static char chunk[65536];
    memset(chunk, 'a', sizeof chunk);
    int fd = open("/tmp/big", O_WRONLY | O_CREAT, 0644);
    long total = 0;
    for (;;) {
        ssize_t n = write(fd, chunk, sizeof chunk);
        if (n <= 0) { printf("full after %ld KiB: %s\n", total >> 10, name(errno)); break; }
        total += n;
    }
    close(fd);
    CASE("small file when full", open("/tmp/small", O_WRONLY | O_CREAT, 0644));
    CASE("unlink big", unlink("/tmp/big"));
    fd = open("/tmp/again", O_WRONLY | O_CREAT, 0644);
    CASE("write after freeing", (int)write(fd, chunk, sizeof chunk));
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "suite";
    if (!strcmp(mode, "persist")) persist();
    else if (!strcmp(mode, "fill")) fill();
    else { bundle(); scratch(); raw(); }
    return 0;
}
