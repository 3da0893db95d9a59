// Writes stdin's "N SIZE" lines of SIZE bytes each to stderr, then "done" to stdout.
#include <stdio.h>
#include <string.h>

static char line[65536];

int main(void) {
    int n = 0, size = 0;
    if (scanf("%d %d", &n, &size) != 2 || size < 1 || size >= (int)sizeof line) return 2;
    memset(line, 'e', size);
    line[size] = '\0';
    for (int i = 0; i < n; i++) fprintf(stderr, "%d %s\n", i, line);
    printf("done\n");
    return 0;
}
