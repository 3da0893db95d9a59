// Counts its calls in a global and a heap block: every call must see a fresh instance.
#include <stdio.h>
#include <stdlib.h>

static int calls;
static char *note;

int main(void) {
    calls++;
    if (note == NULL) {
        note = malloc(64);
        snprintf(note, 64, "first");
    } else {
        snprintf(note, 64, "stale");
    }
    printf("calls=%d note=%s\n", calls, note);
    return 0;
}
