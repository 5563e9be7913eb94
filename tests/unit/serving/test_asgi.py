"""The ASGI toolkit: bounded reads, replayed bodies, buffered rewrites, Content-Length."""

from __future__ import annotations

import asyncio

from starlette.datastructures import MutableHeaders
from starlette.types import Message, Receive, Scope, Send

from credit_risk.serving.asgi import read_body, replay_body, rewriting, with_content_length
from tests.unit.serving.harness import EchoApp, call, http_scope


def _receiver(*messages: Message) -> Receive:
    queue = list(messages)

    async def receive() -> Message:
        return queue.pop(0)

    return receive


def _chunks(*chunks: bytes) -> list[Message]:
    return [
        {"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1}
        for i, chunk in enumerate(chunks)
    ]


def test_a_body_within_the_limit_is_read_whole() -> None:
    body = asyncio.run(read_body(_receiver(*_chunks(b"ab", b"cd", b"e")), limit=5))
    assert body == b"abcde"


def test_a_body_over_the_limit_is_cut_off_past_it() -> None:
    # The chunk that passes the limit is the last read: the rest stays on the wire.
    receive = _receiver(*_chunks(b"abc", b"def", b"never read"))
    body = asyncio.run(read_body(receive, limit=4))
    assert body == b"abcdef"
    assert len(body) > 4


def test_a_client_gone_mid_body_is_none() -> None:
    receive = _receiver(*_chunks(b"abc", b"def")[:1], {"type": "http.disconnect"})
    assert asyncio.run(read_body(receive, limit=100)) is None


def test_a_replayed_body_comes_once_then_the_server_speaks() -> None:
    async def server() -> Message:
        return {"type": "http.disconnect"}

    async def replayed() -> list[Message]:
        receive = replay_body(b"body", server)
        return [await receive(), await receive()]

    first, then = asyncio.run(replayed())
    assert first == {"type": "http.request", "body": b"body", "more_body": False}
    assert then == {"type": "http.disconnect"}


def test_content_length_is_replaced_in_a_copy() -> None:
    headers = [(b"content-type", b"text/csv"), (b"content-length", b"10")]
    assert with_content_length(headers, 3) == [
        (b"content-type", b"text/csv"),
        (b"content-length", b"3"),
    ]
    assert headers[1] == (b"content-length", b"10")
    assert with_content_length([], 0) == [(b"content-length", b"0")]


class _Streaming:
    """Answers ``status`` in two body chunks, with a Content-Length."""

    def __init__(self, status: int) -> None:
        self.status = status

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"content-type", b"text/plain"), (b"content-length", b"6")]
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": b"abc", "more_body": True})
        await send({"type": "http.response.body", "body": b"def"})


def _upper(status: int, headers: MutableHeaders, body: bytes) -> bytes | None:
    if status != 200:
        return None
    headers["content-type"] = "text/shout"
    return body.upper() + b"!"


def _through_rewrite(status: int) -> list[Message]:
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def run() -> None:
        await _Streaming(status)(http_scope("/"), _receiver(), rewriting(send, _upper))

    asyncio.run(run())
    return sent


def test_a_rewritten_response_is_sent_whole_with_its_new_length_and_headers() -> None:
    start, body = _through_rewrite(200)
    assert start["status"] == 200
    assert sorted(start["headers"]) == [
        (b"content-length", b"7"),
        (b"content-type", b"text/shout"),
    ]
    assert body == {"type": "http.response.body", "body": b"ABCDEF!"}


def test_a_response_left_alone_keeps_its_start_and_bytes() -> None:
    start, body = _through_rewrite(404)
    assert start["status"] == 404
    assert (b"content-length", b"6") in start["headers"]
    assert (b"content-type", b"text/plain") in start["headers"]
    assert body["body"] == b"abcdef"


def test_the_harness_echoes_a_chunked_body() -> None:
    exchange = asyncio.run(call(EchoApp(), http_scope("/x"), [b"a", b"b"]))
    assert (exchange.status, exchange.body) == (200, b"ab")
