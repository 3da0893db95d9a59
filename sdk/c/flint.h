/* flint.h: Flint's own imports for functions written in C (clang --target=wasm32-wasi).
 *
 * Logs, the function's key-value store and outbound HTTP. Every call is synchronous: the
 * function waits while the host works, and the call's deadline still holds. Negative return
 * values are errors; none of them fails the invocation. See docs/WRITING-FUNCTIONS.md.
 */
#ifndef FLINT_H
#define FLINT_H

#include <stdint.h>
#include <string.h>

#define FLINT_IMPORT(name) __attribute__((import_module("flint"), import_name(name)))

/* Log levels for flint_log. */
enum { FLINT_TRACE = 0, FLINT_DEBUG = 1, FLINT_INFO = 2, FLINT_WARN = 3, FLINT_ERROR = 4 };

/* One line into the function's logs (`flint logs NAME`). */
FLINT_IMPORT("log") void flint_log(int32_t level, const char *msg, int32_t len);

/* Key-value store. Keys up to 1 KiB, values up to 1 MiB. */
#define FLINT_KV_ABSENT (-1)      /* kv_get: no such key */
#define FLINT_KV_STORE_ERROR (-2) /* the store failed */
#define FLINT_KV_TOO_LARGE (-3)   /* key or value over the limit */
#define FLINT_KV_OVER_QUOTA (-4)  /* kv_set: the function's quota would be exceeded */

/* Reads the value of `key` into `buf` (at most `cap` bytes); returns the value's full length. */
FLINT_IMPORT("kv_get") int32_t flint_kv_get(const char *key, int32_t key_len, char *buf, int32_t cap);
/* Stores `value` under `key`; returns 0. */
FLINT_IMPORT("kv_set") int32_t flint_kv_set(const char *key, int32_t key_len, const char *value, int32_t len);
/* Deletes `key`; returns 1 if it existed, 0 if not. */
FLINT_IMPORT("kv_delete") int32_t flint_kv_delete(const char *key, int32_t key_len);

/* Outbound HTTP, to the hosts in the function's `allowed_outbound_hosts` only.
 *
 * `req` is "METHOD URL\r\nName: value\r\n...\r\n\r\nbody"; the response is written to `resp`
 * (at most `cap` bytes) as "STATUS\r\nname: value\r\n...\r\n\r\nbody". Returns the response's
 * full length (more than `cap` means it was cut) or one of: */
#define FLINT_HTTP_NOT_ALLOWED (-1) /* the host is not in allowed_outbound_hosts */
#define FLINT_HTTP_BAD_REQUEST (-2) /* malformed method, URL or header */
#define FLINT_HTTP_FAILED (-3)      /* connection or exchange failed */
#define FLINT_HTTP_TIMEOUT (-4)     /* outbound_timeout_ms or the call's deadline passed */
#define FLINT_HTTP_TOO_LARGE (-5)   /* the response is over the server's limit */
FLINT_IMPORT("http_request") int32_t flint_http_request(const char *req, int32_t req_len, char *resp, int32_t cap);

/* Conveniences over the imports above, for NUL-terminated strings. */
static inline void flint_log_str(int32_t level, const char *msg) { flint_log(level, msg, (int32_t)strlen(msg)); }

static inline int32_t flint_kv_get_str(const char *key, char *buf, int32_t cap) {
    return flint_kv_get(key, (int32_t)strlen(key), buf, cap);
}

static inline int32_t flint_kv_set_str(const char *key, const char *value) {
    return flint_kv_set(key, (int32_t)strlen(key), value, (int32_t)strlen(value));
}

/* The status code of a response written by flint_http_request (0 if malformed). */
static inline int flint_http_status(const char *resp) {
    int status = 0;
    for (int i = 0; i < 3 && resp[i] >= '0' && resp[i] <= '9'; i++) status = status * 10 + (resp[i] - '0');
    return status;
}

/* The body of a response of `len` bytes (NULL if malformed); its length in *body_len. */
static inline const char *flint_http_body(const char *resp, int32_t len, int32_t *body_len) {
    for (int32_t i = 0; i + 3 < len; i++) {
        if (resp[i] == '\r' && resp[i + 1] == '\n' && resp[i + 2] == '\r' && resp[i + 3] == '\n') {
            *body_len = len - i - 4;
            return resp + i + 4;
        }
    }
    return 0;
}

#endif
