"""A wasi:http handler in Python (componentize-py): it answers with the method, path and query,
and the request body."""

from componentize_py_types import Err, Ok
from wit_world import exports
from wit_world.imports.types import (
    Fields,
    IncomingRequest,
    Method_Other,
    OutgoingBody,
    OutgoingResponse,
    ResponseOutparam,
)


def read_body(request: IncomingRequest) -> bytes:
    body = request.consume()
    data = b""
    with body.stream() as stream:
        while True:
            try:
                data += stream.blocking_read(65536)
            except Err:
                return data


class IncomingHandler(exports.IncomingHandler):
    def handle(self, request: IncomingRequest, response_out: ResponseOutparam) -> None:
        method = request.method()
        name = method.value if isinstance(method, Method_Other) else type(method).__name__[7:].upper()
        text = f"hello from Python: {name} {request.path_with_query()} {read_body(request).decode()}\n"
        headers = Fields.from_list([("content-type", b"text/plain; charset=utf-8"), ("x-lang", b"python")])
        response = OutgoingResponse(headers)
        response.set_status_code(200)
        body = response.body()
        ResponseOutparam.set(response_out, Ok(response))
        with body.write() as out:
            out.blocking_write_and_flush(text.encode())
        OutgoingBody.finish(body, None)
