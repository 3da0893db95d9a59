// Reads and writes files by path, for the end-to-end tests of bundles and mounts.
// argv: NAME cat PATH | NAME overwrite PATH TEXT (prints the file before and after writing it).
#include <errno.h>
#include <stdio.h>
#include <string.h>

static void cat(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) { printf("%s: %s\n", path, strerror(errno)); return; }
    char buf[512];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    printf("%s", buf);
}

int main(int argc, char **argv) {
    if (argc >= 3 && !strcmp(argv[1], "cat")) {
        cat(argv[2]);
        return 0;
    }
    if (argc >= 4 && !strcmp(argv[1], "overwrite")) {
        cat(argv[2]);
        printf(" -> ");
        FILE *f = fopen(argv[2], "w");
        if (!f) { printf("%s\n", strerror(errno)); return 0; }
        fputs(argv[3], f);
        fclose(f);
        cat(argv[2]);
        printf("\n");
        return 0;
    }
    fprintf(stderr, "usage: files cat PATH | files overwrite PATH TEXT\n");
    return 2;
}
