"""The protocol's request clock (``credit_request_duration_seconds``), in process: uvicorn's
own protocol class on a real asyncio transport (one end of a socket pair), a small
Starlette app behind ``RouteLabels``, and the client's bytes written to the other end.

What only a wire shows: pipelined requests each timed from their own first byte to their
own answer, uvicorn's 500 for a failing app, and the refusals the protocol answers
itself (431, 408, 400), all with bounded ``endpoint`` labels. The same against a real
``bentoml serve``: ``tests/e2e/test_metrics.py``.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import Any, ClassVar

import pytest
import uvicorn
from prometheus_client import REGISTRY
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from uvicorn.server import ServerState

from credit_risk.serving.heads import BoundedHeadProtocol
from credit_risk.serving.route_labels import UNKNOWN_ENDPOINT, RouteLabels

HISTOGRAM = "credit_request_duration_seconds"
PAUSE_S = 0.02
"""How long ``/slow`` takes to answer."""
HEAD_TIMEOUT_S = 0.3


async def _slow(_request: Request) -> PlainTextResponse:
    await asyncio.sleep(PAUSE_S)
    return PlainTextResponse("slow")


async def _failing(_request: Request) -> PlainTextResponse:
    raise RuntimeError("the app failed")


class _Protocol(BoundedHeadProtocol):
    # Class attributes, as install_bounded_heads sets them, on a subclass of the test's
    # own: the process-wide ones stay as they are.
    head_timeout_s: ClassVar[float] = HEAD_TIMEOUT_S
    outermost: ClassVar[Callable[[Any], Any] | None] = RouteLabels


def _value(suffix: str, endpoint: str, status: int) -> float:
    labels = {"endpoint": endpoint, "http_response_code": str(status)}
    return REGISTRY.get_sample_value(f"{HISTOGRAM}{suffix}", labels) or 0.0


def _count(endpoint: str, status: int) -> float:
    return _value("_count", endpoint, status)


def _answers(received: bytes) -> int:
    """How many whole answers (head and ``content-length`` body) ``received`` holds."""
    whole = 0
    while b"\r\n\r\n" in received:
        head, _, rest = received.partition(b"\r\n\r\n")
        length = next(
            (
                int(line.split(b":", 1)[1])
                for line in head.lower().split(b"\r\n")
                if line.startswith(b"content-length:")
            ),
            0,
        )
        if len(rest) < length:
            break
        whole, received = whole + 1, rest[length:]
    return whole


async def _exchange(request: bytes, answers: int = 1) -> bytes:
    """Serve one connection with ``_Protocol``: write ``request``, read until ``answers``
    whole answers came or the server closed the connection."""
    app = Starlette(routes=[Route("/slow", _slow), Route("/failing", _failing)])
    # No log_config: uvicorn's would reconfigure this process's logging.
    config = uvicorn.Config(app, log_config=None, lifespan="off")
    config.load()
    loop = asyncio.get_running_loop()
    server_end, client = socket.socketpair()
    client.setblocking(False)
    transport, _ = await loop.connect_accepted_socket(
        lambda: _Protocol(config=config, server_state=ServerState(), app_state={}), server_end
    )
    received = b""
    try:
        await loop.sock_sendall(client, request)
        while _answers(received) < answers:
            chunk = await asyncio.wait_for(loop.sock_recv(client, 65536), timeout=10)
            if not chunk:
                break
            received += chunk
    finally:
        client.close()
        transport.close()
        await asyncio.sleep(0)  # the transport's close runs on the loop
    return received


def _get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode()


def test_pipelined_requests_are_each_timed_to_their_own_answer() -> None:
    count, total = _count("/slow", 200), _value("_sum", "/slow", 200)
    answer = asyncio.run(_exchange(_get("/slow") * 3, answers=3))
    assert answer.count(b"HTTP/1.1 200") == 3, answer
    assert _count("/slow", 200) - count == 3
    # All three arrived together and were answered one after the other: the second
    # waited for the first, the third for both, as their client saw it.
    assert _value("_sum", "/slow", 200) - total >= PAUSE_S * (1 + 2 + 3)


def test_uvicorns_500_for_a_failing_app_is_timed_under_its_route() -> None:
    before = _count("/failing", 500)
    assert asyncio.run(_exchange(_get("/failing"))).startswith(b"HTTP/1.1 500")
    assert _count("/failing", 500) - before == 1


def test_an_unknown_path_is_one_label() -> None:
    before = _count(UNKNOWN_ENDPOINT, 404)
    for path in ("/no-such-page", "/another/one?x=1"):
        assert asyncio.run(_exchange(_get(path))).startswith(b"HTTP/1.1 404")
    assert _count(UNKNOWN_ENDPOINT, 404) - before == 2


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /slow HTTP/1.1\r\nHost: test\r\nX-Filler: " + b"a" * 70_000 + b"\r\n\r\n", 431),
        (b"GET /slow HTTP/1.1\r\nHost: test\r\n", 408),  # the rest never comes
        (b"\x16\x03\x01 not http\r\n\r\n", 400),  # TLS to a plain-HTTP port
    ],
    ids=["431", "408", "400"],
)
def test_refusals_of_the_protocol_are_counted_with_their_status(
    request_bytes: bytes, status: int
) -> None:
    before, total = _count(UNKNOWN_ENDPOINT, status), _value("_sum", UNKNOWN_ENDPOINT, status)
    slow_before = _count("/slow", 200)
    answer = asyncio.run(_exchange(request_bytes))
    assert answer.startswith(f"HTTP/1.1 {status}".encode()), answer[:100]
    assert _count(UNKNOWN_ENDPOINT, status) - before == 1
    assert _count("/slow", 200) == slow_before
    if status == 408:
        # From the head's first byte to the refusal: the deadline.
        assert _value("_sum", UNKNOWN_ENDPOINT, 408) - total >= HEAD_TIMEOUT_S * 0.9
