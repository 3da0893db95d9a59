// Fills the function's key-value store: stdin is "N SIZE [PREFIX]"; sets N keys PREFIX0,
// PREFIX1, ... to SIZE-byte values and prints each kv_set code, then the code of a kv_set
// with a 2 KiB key, then kv_get's answer for the first key.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

__attribute__((import_module("flint"), import_name("kv_get")))
int kv_get(const char *key, int key_len, char *buf, int buf_len);
__attribute__((import_module("flint"), import_name("kv_set")))
int kv_set(const char *key, int key_len, const char *val, int val_len);

static char value[1 << 20];
static char long_key[2048];

int main(void) {
    int n = 0, size = 0;
    char prefix[32] = "k";
    if (scanf("%d %d %31s", &n, &size, prefix) < 2 || size < 0 || size > (int)sizeof value) {
        return 2;
    }
    memset(value, 'v', size);
    printf("set:");
    for (int i = 0; i < n; i++) {
        char key[64];
        int len = snprintf(key, sizeof key, "%s%d", prefix, i);
        printf(" %d", kv_set(key, len, value, size));
    }
    memset(long_key, 'k', sizeof long_key);
    printf("\nlong key: %d\n", kv_set(long_key, sizeof long_key, "x", 1));
    char first[64];
    int len = snprintf(first, sizeof first, "%s0", prefix);
    char buf[8];
    printf("get: %d\n", kv_get(first, len, buf, sizeof buf));
    return 0;
}
