// Prints the value of the environment variable named on stdin ("(unset)" if it is not set).
#include <stdio.h>
#include <stdlib.h>

int main(void) {
    char name[128] = {0};
    if (scanf("%127s", name) != 1) return 2;
    const char *value = getenv(name);
    printf("%s\n", value ? value : "(unset)");
    return 0;
}
