// A wasi:http handler in C, on the bindings `wit-bindgen c` generates for wit/ (world
// `hello`): it answers with the method and the path with its query.
//
//   wit-bindgen c wit --world hello
//   clang --target=wasm32-wasi --sysroot=/usr -mexec-model=reactor -O2 \
//       handler.c hello.c hello_component_type.o -o hello.core.wasm
//   wasm-tools component new hello.core.wasm -o hello.wasm \
//       --adapt wasi_snapshot_preview1.proxy.wasm
#include <stdio.h>
#include <string.h>

#include "hello.h"

static const char *METHODS[] = {"GET", "HEAD", "POST", "PUT", "DELETE",
                                "CONNECT", "OPTIONS", "TRACE", "PATCH"};

void exports_wasi_http_incoming_handler_handle(
    exports_wasi_http_incoming_handler_own_incoming_request_t request,
    exports_wasi_http_incoming_handler_own_response_outparam_t response_out) {
  wasi_http_types_borrow_incoming_request_t req = wasi_http_types_borrow_incoming_request(request);
  wasi_http_types_method_t method;
  wasi_http_types_method_incoming_request_method(req, &method);
  hello_string_t path = {0};
  wasi_http_types_method_incoming_request_path_with_query(req, &path);

  char text[512];
  int len = snprintf(text, sizeof text, "hello from C: %.*s %.*s\n",
                     method.tag == WASI_HTTP_TYPES_METHOD_OTHER ? (int)method.val.other.len : (int)strlen(METHODS[method.tag]),
                     method.tag == WASI_HTTP_TYPES_METHOD_OTHER ? (const char *)method.val.other.ptr : METHODS[method.tag],
                     (int)path.len, (const char *)path.ptr);
  if (len < 0 || len >= (int)sizeof text) len = sizeof text - 1;
  wasi_http_types_method_free(&method);
  hello_string_free(&path);
  wasi_http_types_incoming_request_drop_own(request);

  wasi_http_types_own_fields_t headers = wasi_http_types_constructor_fields();
  hello_string_t name;
  hello_string_dup(&name, "x-lang");
  wasi_http_types_field_value_t value = {(uint8_t *)"c", 1};
  wasi_http_types_header_error_t header_error;
  wasi_http_types_method_fields_append(wasi_http_types_borrow_fields(headers), &name, &value, &header_error);
  hello_string_free(&name);

  wasi_http_types_own_outgoing_response_t response = wasi_http_types_constructor_outgoing_response(headers);
  wasi_http_types_own_outgoing_body_t body;
  wasi_http_types_method_outgoing_response_body(wasi_http_types_borrow_outgoing_response(response), &body);
  wasi_http_types_result_own_outgoing_response_error_code_t result = {.is_err = false, .val = {.ok = response}};
  wasi_http_types_static_response_outparam_set(response_out, &result);

  wasi_http_types_own_output_stream_t out;
  wasi_http_types_method_outgoing_body_write(wasi_http_types_borrow_outgoing_body(body), &out);
  hello_list_u8_t contents = {(uint8_t *)text, (size_t)len};
  wasi_io_streams_stream_error_t stream_error;
  wasi_io_streams_method_output_stream_blocking_write_and_flush(wasi_io_streams_borrow_output_stream(out), &contents, &stream_error);
  wasi_io_streams_output_stream_drop_own(out);
  wasi_http_types_error_code_t finish_error;
  wasi_http_types_static_outgoing_body_finish(body, NULL, &finish_error);
}
