// Allocates 64 KiB blocks and writes every byte of each until malloc fails (the memory limit),
// then prints how many it got: a call that touches all the memory it may have.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Keeps every block observable, so the compiler cannot elide the allocations.
char *volatile last_block;

int main(void) {
    unsigned long blocks = 0;
    for (;;) {
        char *p = malloc(64 << 10);
        if (!p) break;
        memset(p, 0xA5, 64 << 10);
        last_block = p;
        blocks++;
    }
    printf("blocks=%lu\n", blocks);
    return 0;
}
