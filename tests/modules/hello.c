// Reads stdin and the NAME variable, greets both.
#include <stdio.h>
#include <stdlib.h>

int main(void) {
    char body[4096];
    size_t n = fread(body, 1, sizeof body - 1, stdin);
    body[n] = 0;
    const char *name = getenv("NAME");
    printf("hello, %s! you said: %s\n", name ? name : "stranger", body);
    return 0;
}
