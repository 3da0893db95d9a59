// Answers CGI-style: a status line and headers from the request metadata, then a body.
#include <stdio.h>
#include <stdlib.h>

static const char *env(const char *k) {
    const char *v = getenv(k);
    return v ? v : "";
}

int main(void) {
    char body[1024];
    size_t n = fread(body, 1, sizeof body - 1, stdin);
    body[n] = 0;
    printf("Status: 201 Created\r\n");
    printf("Content-Type: text/x-flint-test\r\n");
    printf("X-Path-Info: %s\r\n", env("PATH_INFO"));
    printf("\r\n");
    printf("method=%s query=%s agent=%s body=%s", env("REQUEST_METHOD"), env("QUERY_STRING"),
           env("HTTP_X_TEST_AGENT"), body);
    return 0;
}
