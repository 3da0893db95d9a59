// Grows linear memory one 64 KiB page at a time until memory.grow fails, and prints how many
// pages it ended with.
#include <stdio.h>

int main(void) {
    int grown = 0;
    while (__builtin_wasm_memory_grow(0, 1) != (__SIZE_TYPE__)-1) {
        grown++;
        if (grown > 1000000) break;
    }
    printf("pages=%lu grown=%d\n", (unsigned long)__builtin_wasm_memory_size(0), grown);
    return 0;
}
