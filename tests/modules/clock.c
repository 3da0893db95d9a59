// Prints whether realtime looks like now (after 2020) and whether monotonic time advances.
#include <stdio.h>
#include <time.h>

int main(void) {
    struct timespec r, a, b;
    clock_gettime(CLOCK_REALTIME, &r);
    clock_gettime(CLOCK_MONOTONIC, &a);
    volatile unsigned long x = 0;
    for (unsigned long i = 0; i < 20000000; i++) x += i;
    clock_gettime(CLOCK_MONOTONIC, &b);
    long long ns = (b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec);
    printf("realtime_ok=%d monotonic_advances=%d\n", r.tv_sec > 1577836800, ns > 0);
    return 0;
}
