// Fetches the URL in the request body with flint.http_request (through sdk/c/flint.h) and
// prints the status, one response header and the body, or the error code.
#include <stdio.h>
#include <stdlib.h>
#include "../../sdk/c/flint.h"

static char resp[1 << 20];

int main(void) {
    char url[512];
    size_t n = fread(url, 1, sizeof url - 1, stdin);
    url[n] = 0;
    char req[1024];
    int len = snprintf(req, sizeof req, "POST %s\r\nX-From: flint\r\nContent-Type: text/plain\r\n\r\nping", url);
    int32_t r = flint_http_request(req, len, resp, sizeof resp);
    if (r < 0) {
        printf("error %d\n", r);
        return 0;
    }
    int32_t body_len = 0;
    const char *body = flint_http_body(resp, r < (int32_t)sizeof resp ? r : (int32_t)sizeof resp, &body_len);
    printf("status %d\n", flint_http_status(resp));
    printf("body %.*s\n", (int)body_len, body ? body : "");
    flint_log_str(FLINT_INFO, "fetched");
    return 0;
}
