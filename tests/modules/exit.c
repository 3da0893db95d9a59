// Writes to stderr and exits with code 3.
#include <stdio.h>
#include <stdlib.h>

int main(void) {
    fprintf(stderr, "something went wrong\n");
    exit(3);
}
