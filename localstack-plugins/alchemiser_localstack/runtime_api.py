"""The HTTP server of one execution environment, on 127.0.0.1:<free port>: the Lambda Runtime API
the bootstrap polls (AWS_LAMBDA_RUNTIME_API), and the `/invoke` LocalStack's ExecutorEndpoint posts
each invocation to (as to the Go init in a container).

  GET  /2018-06-01/runtime/invocation/next           a long poll: the next invocation, with the
                                                     Lambda-Runtime-* headers
  POST /2018-06-01/runtime/invocation/<id>/response  the answer
  POST /2018-06-01/runtime/invocation/<id>/error     the error (errorType from the body, or the
                                                     Lambda-Runtime-Function-Error-Type header)
  POST /2018-06-01/runtime/init/error                the runtime failed its init
  POST /invoke                                       {"invoke-id", "invoked-function-arn",
                                                     "payload", "trace-id"} from LocalStack

Content-Length and chunked bodies both work. What a request means is the init's business (its
`next_invocation`, `accept_invoke`, `lookup`, `finish` and `report_status_error`, lambda_init.py);
this module only speaks HTTP.
"""

from __future__ import annotations

import json
import logging
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from alchemiser_localstack.lambda_init import LambdaInit

LOG = logging.getLogger(__name__)

LOCAL_HOST = "127.0.0.1"
RUNTIME_API_PREFIX = "/2018-06-01/runtime"


class RuntimeApiServer(ThreadingHTTPServer):
    """Serves on its own daemon thread from construction until `close()`."""

    daemon_threads = True

    def __init__(self, init: LambdaInit, name: str) -> None:
        self.init = init
        self.name = name
        super().__init__((LOCAL_HOST, 0), RuntimeApiHandler)
        self.port = self.server_address[1]
        self.thread = threading.Thread(target=self.serve_forever, name=f"lambda-init-{name}", daemon=True)
        self.thread.start()

    def handle_error(self, request, client_address):
        # a bootstrap killed mid-request (timeout, stop) leaves broken pipes: not worth a traceback
        LOG.debug("init server: error serving %s", client_address, exc_info=True)

    def close(self) -> None:
        try:
            self.shutdown()
            self.server_close()
        except Exception:  # noqa: BLE001
            pass


class RuntimeApiHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: RuntimeApiServer

    def log_message(self, fmt, *args):  # quiet
        LOG.debug("init %s: " + fmt, self.server.name, *args)

    def _body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _reply(self, status: int, body: bytes = b"", headers: dict | None = None):
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if body and not (headers and "Content-Type" in headers):
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def _json(self, status: int, obj) -> None:
        self._reply(status, json.dumps(obj).encode())

    def do_GET(self):
        init = self.server.init
        if self.path == f"{RUNTIME_API_PREFIX}/invocation/next":
            inv = init.next_invocation()
            if inv is None:
                self._json(HTTPStatus.GONE, {"errorMessage": "environment stopping"})
                return
            headers = {
                "Content-Type": "application/json",
                "Lambda-Runtime-Aws-Request-Id": inv.request_id,
                "Lambda-Runtime-Deadline-Ms": str(inv.deadline_ms),
                "Lambda-Runtime-Invoked-Function-Arn": inv.function_arn,
                "Lambda-Runtime-Trace-Id": inv.trace_id,
            }
            if inv.client_context:
                headers["Lambda-Runtime-Client-Context"] = inv.client_context
            self._reply(HTTPStatus.OK, inv.body, headers)
            return
        self._json(HTTPStatus.NOT_FOUND, {"errorMessage": f"unknown path {self.path}"})

    def do_POST(self):
        init = self.server.init
        body = self._body()
        path = self.path
        if path == "/invoke":
            try:
                payload = json.loads(body)
            except ValueError:
                self._json(HTTPStatus.BAD_REQUEST, {"errorMessage": "invalid invoke payload"})
                return
            self._reply(HTTPStatus.OK)
            threading.Thread(target=init.accept_invoke, args=(payload,), daemon=True).start()
            return
        if path == f"{RUNTIME_API_PREFIX}/init/error":
            self._json(HTTPStatus.ACCEPTED, {"status": "OK"})
            init.report_status_error(error_json(body, self.headers))
            return
        prefix = f"{RUNTIME_API_PREFIX}/invocation/"
        if path.startswith(prefix):
            rest = path[len(prefix) :]
            request_id, _, kind = rest.partition("/")
            inv = init.lookup(request_id)
            if inv is None or inv.done.is_set():
                self._json(
                    HTTPStatus.BAD_REQUEST,
                    {
                        "errorMessage": f"unknown or finished request id {request_id}",
                        "errorType": "InvalidRequestID",
                    },
                )
                return
            if kind == "response":
                self._json(HTTPStatus.ACCEPTED, {"status": "OK"})
                init.finish(inv, is_error=False, body=body)
                return
            if kind == "error":
                self._json(HTTPStatus.ACCEPTED, {"status": "OK"})
                init.finish(inv, is_error=True, body=json.dumps(error_json(body, self.headers)).encode())
                return
        self._json(HTTPStatus.NOT_FOUND, {"errorMessage": f"unknown path {path}"})


def error_json(body: bytes, headers) -> dict:
    """The error a runtime posted, as `{"errorMessage", "errorType", ...}`: its JSON body, with
    errorType from the Lambda-Runtime-Function-Error-Type header when the body has none; a body
    that is not a JSON object becomes the message."""
    try:
        parsed = json.loads(body) if body else {}
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        if "errorType" not in parsed and headers.get("Lambda-Runtime-Function-Error-Type"):
            parsed["errorType"] = headers.get("Lambda-Runtime-Function-Error-Type")
        return parsed
    return {
        "errorMessage": body.decode("utf-8", errors="replace"),
        "errorType": headers.get("Lambda-Runtime-Function-Error-Type") or "Unhandled",
    }
