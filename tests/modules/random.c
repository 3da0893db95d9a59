// Reads 16 random bytes twice and prints both in hex.
#include <stdio.h>
#include <unistd.h>

static void show(void) {
    unsigned char b[16];
    if (getentropy(b, sizeof b) != 0) { puts("getentropy failed"); return; }
    for (int i = 0; i < 16; i++) printf("%02x", b[i]);
    putchar('\n');
}

int main(void) {
    show();
    show();
    return 0;
}
