"""An ASGI app called in process: a request's scope and body chunks in, the answer out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send


@dataclass
class Exchange:
    """What an app received and sent for one request."""

    sent: list[Message] = field(default_factory=list)
    received: list[Message] = field(default_factory=list)

    @property
    def status(self) -> int:
        """The response's status."""
        return int(self.sent[0]["status"])

    @property
    def headers(self) -> Headers:
        """The response's headers."""
        return Headers(raw=list(self.sent[0]["headers"]))

    @property
    def body(self) -> bytes:
        """The response's body, its chunks joined."""
        return b"".join(m.get("body", b"") for m in self.sent if m["type"] == "http.response.body")


def http_scope(path: str, method: str = "POST", headers: dict[str, str] | None = None) -> Scope:
    """An HTTP request's scope."""
    return {
        "type": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
    }


async def call(
    app: ASGIApp, scope: Scope, chunks: Sequence[bytes] = (b"",), *, disconnect: bool = False
) -> Exchange:
    """Call ``app`` with a body sent in ``chunks`` (then a disconnect, if asked)."""
    exchange = Exchange()
    messages: list[Message] = [
        {"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1}
        for i, chunk in enumerate(chunks)
    ]
    if disconnect:
        messages = [*messages[:-1], {"type": "http.disconnect"}]

    async def receive() -> Message:
        message = messages.pop(0) if messages else {"type": "http.disconnect"}
        exchange.received.append(message)
        return message

    async def send(message: Message) -> None:
        exchange.sent.append(message)

    await app(scope, receive, send)
    return exchange


class EchoApp:
    """Answers 200 with the request body it read, and remembers the scope it got."""

    def __init__(self) -> None:
        self.scope: Scope | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Read the whole body, send it back."""
        self.scope = scope
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        await send({"type": "http.response.start", "status": 200, "headers": [(b"x-app", b"echo")]})
        await send({"type": "http.response.body", "body": body})
