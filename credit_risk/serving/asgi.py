"""The ASGI plumbing the serving middlewares share, on Starlette's types.

The middlewares (``guards``, ``openapi``, ``aws.sagemaker``) work below BentoML's
request handling, on raw ASGI messages. What more than one of them needs is here,
once:

* ``read_body``: a request body read whole, but never much past a limit;
* ``replay_body``: a ``receive`` that hands the app a body already read;
* ``rewriting``: a ``send`` that holds a whole response back and lets a function
  rewrite its body (and headers) before it goes out;
* ``with_content_length``: headers with ``Content-Length`` set to a new body's size.

An answer a middleware gives itself is a Starlette ``Response``
(``credit_risk.serving.responses``), which is an ASGI app: ``await
answer(scope, receive, send)``. The ASGI types are Starlette's (``starlette.types``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from starlette.datastructures import MutableHeaders
from starlette.types import Message, Receive, Send

RawHeaders = list[tuple[bytes, bytes]]
"""Headers as ASGI carries them: lower-case names and values, as bytes."""

Rewrite = Callable[[int, MutableHeaders, bytes], bytes | None]
"""Given a whole response's status, headers and body: the body to send instead (the
headers changed in place as it needs), or ``None`` to send the response as it was."""


async def read_body(receive: Receive, limit: int) -> bytes | None:
    """The request body, read to its end or until more than ``limit`` bytes have come.

    A result longer than ``limit`` is a body cut off there: the rest is still on the
    wire. ``None`` when the client went away.
    """
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


def replay_body(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives the app ``body``, already read, as one message."""
    delivered = False

    async def replay() -> Message:
        nonlocal delivered
        if delivered:
            # After the body, only a disconnect can come: ask the server.
            return await receive()
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def with_content_length(headers: Iterable[tuple[bytes, bytes]], length: int) -> RawHeaders:
    """A copy of ``headers`` whose ``Content-Length`` is ``length``."""
    rewritten = MutableHeaders(raw=list(headers))
    rewritten["content-length"] = str(length)
    return rewritten.raw


def rewriting(send: Send, rewrite: Rewrite) -> Send:
    """A ``send`` that holds the whole response back, passes it through ``rewrite``, then
    sends it, with its ``Content-Length`` set to the new body's size when rewritten.

    Messages other than the response's start and body go out as they come.
    """
    start: Message = {}
    chunks: list[bytes] = []

    async def buffered(message: Message) -> None:
        nonlocal start
        if message["type"] == "http.response.start":
            start = message
            return
        if message["type"] != "http.response.body":
            await send(message)
            return
        chunks.append(message.get("body", b""))
        if message.get("more_body", False):
            return
        body = b"".join(chunks)
        headers = MutableHeaders(raw=list(start["headers"]))
        rewritten = rewrite(start["status"], headers, body)
        if rewritten is None:
            await send(start)
        else:
            body = rewritten
            headers["content-length"] = str(len(body))
            await send({**start, "headers": headers.raw})
        await send({"type": "http.response.body", "body": body})

    return buffered
