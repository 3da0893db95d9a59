// The benchmarks' hello function as a wasi:http handler in C (world `hello`, as handler.c):
// it reads the request body and answers "hello, BODY!", as examples/hello.wat does from stdin.
// Built the same way as handler.c.
#include <stdio.h>
#include <string.h>

#include "hello.h"

// Reads the whole body of `req` (up to `cap` bytes) into `buf`; returns its length.
static size_t read_body(wasi_http_types_borrow_incoming_request_t req, char *buf, size_t cap) {
  size_t len = 0;
  wasi_http_types_own_incoming_body_t body;
  if (!wasi_http_types_method_incoming_request_consume(req, &body)) return 0;
  wasi_http_types_own_input_stream_t in;
  if (wasi_http_types_method_incoming_body_stream(wasi_http_types_borrow_incoming_body(body), &in)) {
    for (;;) {
      hello_list_u8_t chunk;
      wasi_io_streams_stream_error_t error;
      if (!wasi_io_streams_method_input_stream_blocking_read(wasi_io_streams_borrow_input_stream(in), cap - len, &chunk, &error)) {
        if (error.tag == WASI_IO_STREAMS_STREAM_ERROR_LAST_OPERATION_FAILED)
          wasi_io_error_error_drop_own(error.val.last_operation_failed);
        break;
      }
      memcpy(buf + len, chunk.ptr, chunk.len);
      len += chunk.len;
      hello_list_u8_free(&chunk);
      if (len == cap) break;
    }
    wasi_io_streams_input_stream_drop_own(in);
  }
  wasi_http_types_incoming_body_drop_own(body);
  return len;
}

void exports_wasi_http_incoming_handler_handle(
    exports_wasi_http_incoming_handler_own_incoming_request_t request,
    exports_wasi_http_incoming_handler_own_response_outparam_t response_out) {
  char body[256];
  size_t body_len = read_body(wasi_http_types_borrow_incoming_request(request), body, sizeof body);
  wasi_http_types_incoming_request_drop_own(request);
  char text[300];
  int len = snprintf(text, sizeof text, "hello, %.*s!\n", (int)body_len, body);
  if (len < 0 || len >= (int)sizeof text) len = sizeof text - 1;

  wasi_http_types_own_fields_t headers = wasi_http_types_constructor_fields();
  wasi_http_types_own_outgoing_response_t response = wasi_http_types_constructor_outgoing_response(headers);
  wasi_http_types_own_outgoing_body_t out_body;
  wasi_http_types_method_outgoing_response_body(wasi_http_types_borrow_outgoing_response(response), &out_body);
  wasi_http_types_result_own_outgoing_response_error_code_t result = {.is_err = false, .val = {.ok = response}};
  wasi_http_types_static_response_outparam_set(response_out, &result);

  wasi_http_types_own_output_stream_t out;
  wasi_http_types_method_outgoing_body_write(wasi_http_types_borrow_outgoing_body(out_body), &out);
  hello_list_u8_t contents = {(uint8_t *)text, (size_t)len};
  wasi_io_streams_stream_error_t stream_error;
  wasi_io_streams_method_output_stream_blocking_write_and_flush(wasi_io_streams_borrow_output_stream(out), &contents, &stream_error);
  wasi_io_streams_output_stream_drop_own(out);
  wasi_http_types_error_code_t finish_error;
  wasi_http_types_static_outgoing_body_finish(out_body, NULL, &finish_error);
}
