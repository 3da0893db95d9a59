// CPU-bound work for the benchmark: `fib N` (recursive) or `sum` (checksum over 1 MiB, 100x).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fib(int n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "fib") == 0) {
        int n = argc > 2 ? atoi(argv[2]) : 27;
        printf("%d\n", fib(n));
    } else if (argc > 1 && strcmp(argv[1], "sum") == 0) {
        static unsigned int data[262144];
        for (unsigned int i = 0; i < 262144; i++) data[i] = i * 2654435761u;
        unsigned long long s = 0;
        for (int r = 0; r < 100; r++)
            for (unsigned int i = 0; i < 262144; i++) s += data[i] ^ (unsigned int)r;
        printf("%llu\n", s);
    }
    return 0;
}
