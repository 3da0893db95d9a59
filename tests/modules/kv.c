// Counts visits in the function's key-value store and logs each one.
#include <stdio.h>
#include <string.h>
#include <stdlib.h>

__attribute__((import_module("flint"), import_name("kv_get")))
int kv_get(const char *key, int key_len, char *buf, int buf_len);
__attribute__((import_module("flint"), import_name("kv_set")))
int kv_set(const char *key, int key_len, const char *val, int val_len);
__attribute__((import_module("flint"), import_name("log")))
void flint_log(int level, const char *msg, int len);

int main(void) {
    char buf[32] = {0};
    int n = kv_get("visits", 6, buf, sizeof buf - 1);
    int visits = n > 0 ? atoi(buf) : 0;
    visits++;
    int len = snprintf(buf, sizeof buf, "%d", visits);
    kv_set("visits", 6, buf, len);
    char msg[64];
    int m = snprintf(msg, sizeof msg, "visit number %d", visits);
    flint_log(2, msg, m);
    printf("visits=%d\n", visits);
    return 0;
}
