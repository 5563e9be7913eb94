"""A Lambda Runtime API on loopback: what Lambda serves to the runtime in a function.

AWS's runtime interface emulator cannot be downloaded here, and the protocol is
small and documented (Lambda Developer Guide, "Using the Lambda runtime API for
custom runtimes"): the runtime long-polls ``GET /2018-06-01/runtime/invocation/next``
for an event, then posts ``.../invocation/<id>/response`` or ``.../<id>/error``;
a runtime that cannot start posts ``.../init/error``. The next-invocation answer
carries the headers Lambda always sends; the runtime interface client's native
code crashes without them.
"""

from __future__ import annotations

import base64
import json
import queue
import threading
import time
import uuid
from concurrent.futures import Future
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final

API_PREFIX: Final = "/2018-06-01/runtime"
FUNCTION_ARN: Final = "arn:aws:lambda:eu-west-1:123456789012:function:credit-risk"
DEADLINE_S: Final = 30
"""The function timeout the events are given (Lambda-Runtime-Deadline-Ms)."""


@dataclass
class Invocation:
    """One event handed to the runtime, and what the runtime answered."""

    request_id: str
    event: dict[str, Any]
    answer: Future[tuple[str, Any]] = field(default_factory=Future)
    handed_at: float = 0.0
    answered_at: float = 0.0


class LambdaRuntimeAPI:
    """The Runtime API, served on ``127.0.0.1`` by a thread; ``invoke`` sends an event."""

    def __init__(self) -> None:
        """Bind a free loopback port; ``start`` serves it."""
        self._pending: queue.Queue[Invocation] = queue.Queue()
        self._invocations: dict[str, Invocation] = {}
        self.init_errors: list[Any] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def address(self) -> str:
        """``host:port``, as ``AWS_LAMBDA_RUNTIME_API`` wants it."""
        host, port = self._server.server_address[:2]
        return f"{host}:{port}"

    def start(self) -> LambdaRuntimeAPI:
        """Serve in the background."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; a runtime still polling gets its connection closed."""
        self._server.shutdown()
        self._server.server_close()

    def submit(self, event: dict[str, Any]) -> Invocation:
        """Queue an event for the runtime's next poll."""
        invocation = Invocation(str(uuid.uuid4()), event)
        self._invocations[invocation.request_id] = invocation
        self._pending.put(invocation)
        return invocation

    def invoke(self, event: dict[str, Any], timeout: float = DEADLINE_S) -> dict[str, Any]:
        """Send one event and wait for the function's response; raises on a function error."""
        kind, body = self.submit(event).answer.result(timeout=timeout)
        if kind != "response":
            raise RuntimeError(f"the function answered an error: {body}")
        return body

    def _next(self) -> Invocation:
        invocation = self._pending.get()
        invocation.handed_at = time.monotonic()
        return invocation

    def _answer(self, request_id: str, kind: str, body: Any) -> bool:
        invocation = self._invocations.get(request_id)
        if invocation is None:
            return False
        invocation.answered_at = time.monotonic()
        invocation.answer.set_result((kind, body))
        return True


def _handler_for(api: LambdaRuntimeAPI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # the runtime client keeps its connection
        # Headers and body go out in two writes: with Nagle on, each answer
        # waited for a delayed ACK (40 ms), which is not Lambda's latency.
        disable_nagle_algorithm = True

        def do_GET(self) -> None:
            if self.path != f"{API_PREFIX}/invocation/next":
                self._reply(HTTPStatus.NOT_FOUND, {"errorMessage": "unknown path"})
                return
            invocation = api._next()
            deadline_ms = int((time.time() + DEADLINE_S) * 1000)
            self._reply(
                HTTPStatus.OK,
                invocation.event,
                {
                    "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
                    "Lambda-Runtime-Deadline-Ms": str(deadline_ms),
                    "Lambda-Runtime-Invoked-Function-Arn": FUNCTION_ARN,
                    "Lambda-Runtime-Trace-Id": (
                        f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};"
                        "Parent=0000000000000000;Sampled=0"
                    ),
                },
            )

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body: Any = json.loads(raw) if raw else None
            parts = self.path.removeprefix(f"{API_PREFIX}/").split("/")
            if parts == ["init", "error"]:
                api.init_errors.append(body)
                accepted = True
            elif len(parts) == 3 and parts[0] == "invocation" and parts[2] in ("response", "error"):
                accepted = api._answer(parts[1], parts[2], body)
            else:
                accepted = False
            if accepted:
                self._reply(HTTPStatus.ACCEPTED, {"status": "OK"})
            else:
                self._reply(HTTPStatus.NOT_FOUND, {"errorMessage": "unknown invocation"})

        def _reply(
            self, status: HTTPStatus, body: Any, headers: dict[str, str] | None = None
        ) -> None:
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the test reports what matters."""

    return Handler


def http_api_event(
    method: str,
    path: str,
    body: bytes | str | None = None,
    headers: dict[str, str] | None = None,
    *,
    base64_body: bool = False,
) -> dict[str, Any]:
    """An API Gateway HTTP API event, payload format 2.0, as its ``$default`` stage sends it."""
    raw = body.encode() if isinstance(body, str) else body
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"host": "abc123.execute-api.eu-west-1.amazonaws.com", **(headers or {})},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "abc123.execute-api.eu-west-1.amazonaws.com",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "pytest",
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime()),
            "timeEpoch": int(time.time() * 1000),
        },
        **_body(raw, base64_body),
    }


def rest_api_event(
    method: str,
    path: str,
    body: bytes | str | None = None,
    headers: dict[str, str] | None = None,
    *,
    base64_body: bool = False,
) -> dict[str, Any]:
    """An API Gateway REST API proxy event, payload format 1.0, from stage ``prod``."""
    raw = body.encode() if isinstance(body, str) else body
    all_headers = {"Host": "abc123.execute-api.eu-west-1.amazonaws.com", **(headers or {})}
    return {
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": all_headers,
        "multiValueHeaders": {name: [value] for name, value in all_headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": {"proxy": path.lstrip("/")},
        "stageVariables": None,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "httpMethod": method,
            "identity": {"sourceIp": "203.0.113.7", "userAgent": "pytest"},
            "path": f"/prod{path}",
            "protocol": "HTTP/1.1",
            "requestId": str(uuid.uuid4()),
            "resourcePath": "/{proxy+}",
            "stage": "prod",
        },
        **_body(raw, base64_body),
    }


def _body(raw: bytes | None, base64_body: bool) -> dict[str, Any]:
    if raw is None:
        return {"body": None, "isBase64Encoded": False}
    if base64_body:
        return {"body": base64.b64encode(raw).decode(), "isBase64Encoded": True}
    return {"body": raw.decode(), "isBase64Encoded": False}
