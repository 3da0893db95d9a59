// Sleeps for the number of milliseconds on stdin (default 1000), then says so.
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int main(void) {
    char buf[32] = {0};
    fread(buf, 1, sizeof buf - 1, stdin);
    long ms = buf[0] ? atol(buf) : 1000;
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
    printf("slept %ld ms\n", ms);
    return 0;
}
