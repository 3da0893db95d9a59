// Reads a bundled file (/template.html) and writes it to a scratch file (/tmp/page.html), then
// prints both sizes: the file work of a typical templating function, for the benchmarks.
#include <stdio.h>
#include <stdlib.h>

static char buf[1 << 20];

int main(void) {
    FILE *in = fopen("/template.html", "r");
    if (!in) { perror("open template"); return 1; }
    size_t n = fread(buf, 1, sizeof buf, in);
    fclose(in);
    FILE *out = fopen("/tmp/page.html", "w");
    if (!out) { perror("open scratch"); return 1; }
    size_t w = fwrite(buf, 1, n, out);
    fclose(out);
    printf("read %zu wrote %zu\n", n, w);
    return 0;
}
