"""SageMaker's container contract, mapped onto the service's own endpoints.

SageMaker starts an inference image as ``docker run IMAGE serve`` (the bento's
entrypoint runs ``bentoml serve``; the model's ``PORT=8080`` moves it to the
port SageMaker calls) and then speaks to it on three paths, which
``SageMakerAdapter``, an ASGI middleware outside every other, answers when
``CREDIT_RISK_SAGEMAKER`` is on:

* ``GET /ping``: the service's ``/readyz`` (200 once the model is loaded);
* ``GET /execution-parameters``: what batch transform may send (payload size,
  batch strategy, concurrency);
* ``POST /invocations``: rewritten to the endpoint that already decides that
  body, ``/classify`` (one JSON application), ``/classify_batch`` (JSON
  ``{"applications": [...]}`` or a JSON list) or ``/classify_csv`` (``text/csv``),
  and then handled as any request: API key, content type, body limit,
  validation, decision records. No decision code lives here.
"""

from __future__ import annotations

import json
import math
from typing import Any, Final

from credit_risk.http_guards import ASGIApp, Message, Receive, Refusal, Scope, Send

PING_PATH: Final = "/ping"
INVOCATIONS_PATH: Final = "/invocations"
EXECUTION_PARAMETERS_PATH: Final = "/execution-parameters"
READY_PATH: Final = "/readyz"

JSON_TYPE: Final = "application/json"
CSV_TYPE: Final = "text/csv"
CSV_ROUTE: Final = "/classify_csv"
MIB: Final = 1024 * 1024


class SageMakerAdapter:
    """ASGI middleware: SageMaker's ``/ping``, ``/invocations``, ``/execution-parameters``."""

    def __init__(
        self, app: ASGIApp, *, enabled: bool, max_body_bytes: int, max_concurrency: int
    ) -> None:
        """Adapt ``app``; with ``enabled`` false every request passes through untouched.

        Args:
            app: the service's ASGI app, with its guards.
            enabled: whether to answer SageMaker's paths at all.
            max_body_bytes: the service's body limit, declared to batch transform.
            max_concurrency: concurrent requests batch transform may send (API workers).
        """
        self.app = app
        self.enabled = enabled
        self.max_body_bytes = max_body_bytes
        self.max_concurrency = max_concurrency

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer or rewrite SageMaker's paths; pass everything else on."""
        if not self.enabled or scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route = (scope["method"], scope["path"])
        if route == ("GET", PING_PATH):
            await self.app(_rewritten(scope, READY_PATH), receive, send)
        elif route == ("GET", EXECUTION_PARAMETERS_PATH):
            await _send_json(send, self.execution_parameters())
        elif route == ("POST", INVOCATIONS_PATH):
            await self._invoke(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    def execution_parameters(self) -> dict[str, Any]:
        """What ``GET /execution-parameters`` declares to batch transform.

        Batch transform's payload unit is a whole MB, at least 1: the largest
        that fits the body limit. ``MULTI_RECORD`` packs lines into a payload.
        """
        return {
            "MaxConcurrentTransforms": self.max_concurrency,
            "BatchStrategy": "MULTI_RECORD",
            "MaxPayloadInMB": max(1, math.floor(self.max_body_bytes / MIB)),
        }

    async def _invoke(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope["headers"])
        media_type = _media_type(headers.get(b"content-type", b""))
        accept = _media_type(headers.get(b"accept", b"")) or "*/*"
        if media_type == CSV_TYPE:
            if accept not in (CSV_TYPE, "*/*", "text/*"):
                await _not_acceptable(send, accept, CSV_TYPE)
                return
            await self.app(_rewritten(scope, CSV_ROUTE), receive, send)
            return
        if accept not in (JSON_TYPE, "*/*", "application/*"):
            await _not_acceptable(send, accept, JSON_TYPE)
            return
        # Which JSON endpoint depends on the body's shape: read it, bounded (the
        # guard inside still applies the limit to what is replayed to it).
        body = await _read_bounded(receive, self.max_body_bytes)
        if body is None:
            return
        path, body = _json_route(body)
        await self.app(_rewritten(scope, path, body_length=len(body)), _replay(body, receive), send)


def _json_route(body: bytes) -> tuple[str, bytes]:
    """The endpoint for a JSON body, and the body it gets (a list becomes a batch)."""
    stripped = body.lstrip()
    if stripped.startswith(b"["):
        return "/classify_batch", b'{"applications":' + body + b"}"
    try:
        parsed = json.loads(body)
    except ValueError:
        # Not JSON: /classify answers its usual 400 for it.
        return "/classify", body
    if isinstance(parsed, dict) and "applications" in parsed:
        return "/classify_batch", body
    return "/classify", body


def _media_type(value: bytes) -> str:
    return value.decode("latin-1").split(";", 1)[0].split(",", 1)[0].strip().lower()


def _rewritten(scope: Scope, path: str, body_length: int | None = None) -> Scope:
    headers = scope["headers"]
    if body_length is not None:
        headers = [(k, v) for k, v in headers if k.lower() != b"content-length"]
        headers.append((b"content-length", str(body_length).encode()))
    return {**scope, "path": path, "raw_path": path.encode(), "headers": headers}


async def _read_bounded(receive: Receive, limit: int) -> bytes | None:
    # One byte over the limit is enough for the guard to refuse it with 413.
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk: bytes = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    delivered = False

    async def replay() -> Message:
        nonlocal delivered
        if delivered:
            # After the body, only a disconnect can come: ask the server.
            return await receive()
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


async def _send_json(send: Send, payload: dict[str, Any]) -> None:
    body = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", JSON_TYPE.encode()),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _not_acceptable(send: Send, accept: str, offered: str) -> None:
    await Refusal(
        406, f"Accept {accept!r} cannot be answered; this body answers as {offered}."
    ).send(send)
