// Divides by zero (the divisor comes from stdin so the compiler cannot fold it).
#include <stdio.h>

int main(void) {
    int d = getchar() - '0';
    printf("%d\n", 100 / d);
    return 0;
}
