"""Bounded request heads (a size limit, 431, and a deadline for reading a head, 408), and
every request timed at the wire.

``bentoml serve`` starts uvicorn itself (``_bentoml_impl/worker/service.py`` in
BentoML 1.4.39) and passes it neither ``http=`` nor ``h11_max_incomplete_event_size``:
no BentoML setting reaches them. Uvicorn then picks ``httptools`` (installed for
speed, 1.48x the requests per second of ``h11``), whose protocol has no limit on a
head's size and no deadline for reading one: an 8 MiB header was answered 200, and
connections sending one header line every 5 s stayed open for good. No ASGI
middleware can help, as the app sees a request only once its head is complete.

``BoundedHeadProtocol`` is uvicorn's ``HttpToolsProtocol`` with both bounds, and
``install_bounded_heads`` makes it the protocol uvicorn's ``http="auto"`` (the one
BentoML uses) and ``http="httptools"`` resolve to. It must run in the worker before
uvicorn loads its configuration: at the import of ``service.py``, which BentoML's
worker loads before it builds ``uvicorn.Config``. It also puts an ASGI middleware
around the whole app if asked (``outermost``), ahead of BentoML's own middlewares,
which ``Service.add_asgi_middleware`` cannot do (``route_labels`` uses it).

The protocol also times every request for ``credit_request_duration_seconds``
(``metrics.request_duration``), from the first byte of its head parsed to the last byte
of its answer written: the clock a client's is closest to. BentoML's own histogram
starts when its middleware is called, after uvicorn has parsed the head, made the
request's task and the event loop has come round to it, and stops when the body is
handed back: under load, the waits for the loop (where latency hides) were outside it.

* The clock starts in ``on_message_begin``, which the parser calls at the first byte of
  each request (not at the first ``data_received`` of a head): pipelined requests that
  arrive in one read each get their own, and a head sent over several reads is timed
  from its first. What waits in the socket before the loop reads it stays invisible.
* It stops in uvicorn's ``send`` of the request's cycle, right after the write that
  completes the answer (and ``on_response_complete``, which uvicorn calls from there but
  which does not say which request finished: with pipelining it may not be the newest).
  The cycle's ``send`` is wrapped as the cycle is made, so uvicorn's own answers (a 500
  when the app fails) are timed with their status too.
* The ``endpoint`` label is the one ``route_labels.RouteLabels`` leaves in the scope
  (``ENDPOINT_KEY``): never a raw path. A request the app never saw is ``<unknown>``.
* The refusals the protocol answers itself are counted too, as ``<unknown>``: 431 (a
  head too large), 408 (a head too slow) and uvicorn's 400 (a head that does not parse).
  A request whose client left before its answer was written is not counted.

The fast path costs one addition and two comparisons per ``data_received``: the
exact size of a head is computed only when the bytes received while it was
incomplete pass the limit, and the deadline's timer is armed only for a connection
that has just been opened or whose head did not arrive in one read. Timing adds two
clock reads per request, one small object, one extra call per ``send`` and a cached
histogram child's ``observe``.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable
from time import perf_counter
from typing import Any, ClassVar, Final

import orjson
import uvicorn.config
from starlette.types import ASGIApp
from uvicorn._types import ASGISendEvent
from uvicorn.protocols.http.httptools_impl import (
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)

from credit_risk.serving.metrics import observe_request
from credit_risk.serving.route_labels import ENDPOINT_KEY, UNKNOWN_ENDPOINT

logger = logging.getLogger("credit_risk.heads")

DEFAULT_MAX_HEAD_BYTES: Final = 65_536
"""An AWS Application Load Balancer's limit on a request's headers (64 KiB): any head
such a front forwards is accepted. h11's own default is 16 KiB."""

DEFAULT_HEAD_TIMEOUT_S: Final = 10.0
"""From a connection's opening (or a head's first byte, on a kept-alive connection) to
the end of its head. A client sends a head in one packet; 10 s covers a slow mobile
link many times over."""

LINGER_S: Final = 1.0
"""After a 431, how long the rest of the client's head is read and dropped before the
connection closes. Closing a socket with unread data makes the kernel answer with a
reset, which can destroy the 431 before the client reads it."""

UVICORN_PROTOCOLS: Final = dict(uvicorn.config.HTTP_PROTOCOLS)
"""Uvicorn's own table, as it was before ``install_bounded_heads`` (for benchmarks/)."""

PROTOCOL_PATH: Final = f"{__name__}:BoundedHeadProtocol"
"""Where uvicorn's ``import_from_string`` finds the protocol."""

_HEAD_OVERHEAD: Final = len(" HTTP/1.1\r\n") + len("\r\n")
"""A head's bytes besides its method, target and header lines."""


class BoundedHeadProtocol(HttpToolsProtocol):
    """Uvicorn's httptools protocol with a size limit and a deadline for request heads.

    The limits are class attributes, set once per process by ``install_bounded_heads``.
    """

    max_head_bytes: ClassVar[int] = DEFAULT_MAX_HEAD_BYTES
    head_timeout_s: ClassVar[float] = DEFAULT_HEAD_TIMEOUT_S
    keep_alive_s: ClassVar[float | None] = None
    outermost: ClassVar[Callable[[ASGIApp], ASGIApp] | None] = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """As uvicorn's, with the head's state, the idle keep-alive if one was set and,
        once per configuration, ``outermost`` around the app."""
        super().__init__(*args, **kwargs)
        if self.keep_alive_s is not None:
            self.timeout_keep_alive = self.keep_alive_s
        self.app = _wrapped_app(self.config, self.app, type(self).outermost)
        self._in_head = True
        """Whether the bytes coming next belong to a head (or precede one)."""
        self._head_bytes = 0
        """Bytes received while the current head was incomplete (an upper bound)."""
        self._head_deadline: asyncio.TimerHandle | None = None
        self._refused = False
        self._began = 0.0
        """When the current head's first byte was parsed (``perf_counter``); 0 between
        a head's end and the next one's first byte."""

    # --- the connection ------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """As uvicorn's, and the deadline for the first head starts: uvicorn has none
        for a connection that never sends a byte."""
        super().connection_made(transport)
        self._arm_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        """As uvicorn's, with the deadline's timer cancelled."""
        self._cancel_deadline()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """Feed the parser as uvicorn does; refuse a head that outgrows the limit."""
        if self._refused:
            return  # lingering after a 431: the rest of the head is dropped
        counting = self._in_head
        if counting:
            # Everything from here on may be head: an upper bound, checked exactly
            # in on_headers_complete should the head end within this read.
            self._head_bytes += len(data)
        super().data_received(data)
        if not (counting and self._in_head and self._head_bytes) or self.transport.is_closing():
            # No head begun and left incomplete by this read. (The start of a pipelined
            # head after a whole request in the same read is not counted: at most one
            # read's worth, counted from the next read on.)
            return
        if self._head_bytes > self.max_head_bytes:
            self._refuse_too_large()
        elif self._head_deadline is None:
            # A kept-alive connection's next head that did not come in one read.
            self._arm_deadline()

    def send_400_response(self, msg: str) -> None:
        """As uvicorn's (a request that does not parse), counted if it was a head's."""
        super().send_400_response(msg)
        if self._in_head:
            # Not a body's error: that request has its cycle, whose answer is timed.
            self._observe_refusal(400)

    # --- parser callbacks ----------------------------------------------------------

    def on_message_begin(self) -> None:
        """As uvicorn's; the request's clock starts at its first byte."""
        self._began = perf_counter()
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        """Refuse a head larger than the limit (431); otherwise as uvicorn's, and the
        request's answer timed."""
        if self._refused:
            return
        self._in_head = False
        self._cancel_deadline()
        received, self._head_bytes = self._head_bytes, 0
        if received > self.max_head_bytes and self._head_size() > self.max_head_bytes:
            self._refuse_too_large()
            return
        began, self._began = self._began, 0.0
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not None and cycle.scope is self.scope:
            # uvicorn made this head's cycle (an upgrade makes none). Its task, made
            # just now, has not run: the app and uvicorn's own 500 will find this send.
            cycle.send = _TimedAnswer(cycle, began).send  # type: ignore[method-assign]

    def on_body(self, body: bytes) -> None:
        """As uvicorn's, unless the head was refused (there is no request then)."""
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        """As uvicorn's; what comes next on the connection is the next head."""
        if self._refused:
            return
        self._in_head = True
        self._head_bytes = 0
        super().on_message_complete()

    # --- refusals ------------------------------------------------------------------

    def _head_size(self) -> int:
        # The head's size on the wire, give or take optional whitespace.
        method = self.parser.get_method()
        headers = sum(len(name) + len(value) + 4 for name, value in self.headers)
        return len(method) + 1 + len(self.url) + headers + _HEAD_OVERHEAD

    def _refuse_too_large(self) -> None:
        client = _client(self.client)
        logger.info("431: a request head from %s passed %d bytes", client, self.max_head_bytes)
        self._refuse(
            431,
            f"The request's headers are larger than {self.max_head_bytes} bytes.",
        )
        # The answer, then the end of our side; what the client is still sending is
        # read and dropped for a while before the connection closes (see LINGER_S).
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(LINGER_S, self.transport.close)

    def _head_timed_out(self) -> None:
        self._head_deadline = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            # A pipelined head behind a request still being answered: closing now
            # would cut that answer off; its own timeout bounds the wait.
            self._arm_deadline()
            return
        if self._head_bytes == 0:
            # Nothing of a head arrived: close quietly, as uvicorn's keep-alive does.
            self.transport.close()
            return
        logger.info(
            "408: no complete request head from %s within %.1f s",
            _client(self.client),
            self.head_timeout_s,
        )
        self._refuse(408, f"The request's head did not arrive within {self.head_timeout_s:g} s.")
        self.transport.close()

    def _refuse(self, status: int, error: str) -> None:
        """Answer ``status`` with a JSON error and stop reading requests."""
        self._refused = True
        self._cancel_deadline()
        body = orjson.dumps({"error": error})
        head = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            head += [name, b": ", value, b"\r\n"]
        head += [
            b"content-type: application/json\r\n",
            b"content-length: " + str(len(body)).encode() + b"\r\n",
            b"connection: close\r\n\r\n",
            body,
        ]
        self.transport.write(b"".join(head))
        self._observe_refusal(status)

    def _observe_refusal(self, status: int) -> None:
        """Count an answer the protocol wrote itself for a head: no route is known."""
        if self._began:
            elapsed = perf_counter() - self._began
        else:
            # Only blank lines came: a 408's deadline started with them (or the connection).
            elapsed = self.head_timeout_s if status == 408 else 0.0
        observe_request(elapsed, status, UNKNOWN_ENDPOINT)

    # --- the deadline --------------------------------------------------------------

    def _arm_deadline(self) -> None:
        self._cancel_deadline()
        self._head_deadline = self.loop.call_later(self.head_timeout_s, self._head_timed_out)

    def _cancel_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None


class _TimedAnswer:
    """One request's clock, stopped in uvicorn's ``send`` of its cycle as the write that
    completes the answer returns."""

    __slots__ = ("_began", "_cycle", "_status")

    def __init__(self, cycle: RequestResponseCycle, began: float) -> None:
        # Weakly: the cycle holds this object's send, and a strong reference back would
        # leave a reference cycle per request to the garbage collector, whose pauses
        # once halved the service's p99 (service.py); uvicorn breaks its own in run_asgi.
        self._cycle = weakref.ref(cycle)
        self._began = began
        self._status = 0

    async def send(self, message: ASGISendEvent) -> None:
        """uvicorn's ``send``, noting the status and, once the answer is complete,
        observing the request (once: a disconnected cycle ignores later sends)."""
        cycle = self._cycle()
        if cycle is None:
            return  # its task is over: nobody to answer
        if message["type"] == "http.response.start":
            self._status = message["status"]
        await RequestResponseCycle.send(cycle, message)
        if self._status and cycle.response_complete:
            elapsed = perf_counter() - self._began
            scope: dict[str, Any] = cycle.scope  # type: ignore[assignment]
            observe_request(elapsed, self._status, scope.get(ENDPOINT_KEY, UNKNOWN_ENDPOINT))
            self._status = 0


def _client(address: tuple[str, int] | None) -> str:
    return "%s:%d" % address if address else "unknown client"  # noqa: UP031


_WRAPPED_ATTRIBUTE: Final = "_credit_risk_outermost_app"


def _wrapped_app(
    config: uvicorn.config.Config,
    app: ASGIApp,
    outermost: Callable[[ASGIApp], ASGIApp] | None,
) -> ASGIApp:
    # Once per configuration, not per connection: the middleware keeps what it
    # learns about the app (route_labels' table of paths).
    if outermost is None:
        return app
    wrapped: ASGIApp | None = getattr(config, _WRAPPED_ATTRIBUTE, None)
    if wrapped is None:
        wrapped = outermost(app)
        setattr(config, _WRAPPED_ATTRIBUTE, wrapped)
    return wrapped


def install_bounded_heads(
    *,
    max_head_bytes: int = DEFAULT_MAX_HEAD_BYTES,
    head_timeout_s: float = DEFAULT_HEAD_TIMEOUT_S,
    keep_alive_s: float | None = None,
    outermost: Callable[[ASGIApp], ASGIApp] | None = None,
) -> None:
    """Make ``BoundedHeadProtocol`` the protocol uvicorn uses in this process.

    Call it before uvicorn loads its configuration: at the import of ``service.py``.

    Args:
        max_head_bytes: the largest request head (request line and headers) accepted;
            a larger one is answered 431 and its connection closed.
        head_timeout_s: the time a client has for a whole head, from the connection's
            opening or from the head's first byte on a kept-alive connection; past it,
            408 and the connection closed (closed quietly if nothing was sent).
        keep_alive_s: how long an idle kept-alive connection stays open; ``None``
            keeps uvicorn's (5 s, which ``bentoml serve`` passes unless given
            ``--timeout-keep-alive``).
        outermost: an ASGI middleware factory put around uvicorn's app, outside
            every middleware of BentoML's.
    """
    if max_head_bytes < 1024:
        raise ValueError(f"max_head_bytes must be at least 1024, not {max_head_bytes}")
    if head_timeout_s <= 0:
        raise ValueError(f"head_timeout_s must be positive, not {head_timeout_s}")
    if keep_alive_s is not None and keep_alive_s <= 0:
        raise ValueError(f"keep_alive_s must be positive, not {keep_alive_s}")
    BoundedHeadProtocol.max_head_bytes = max_head_bytes
    BoundedHeadProtocol.head_timeout_s = head_timeout_s
    BoundedHeadProtocol.keep_alive_s = keep_alive_s
    BoundedHeadProtocol.outermost = outermost
    # Uvicorn resolves Config(http="auto") through this table when the server starts
    # (uvicorn.config.Config.load, uvicorn 0.55): BentoML leaves http at "auto".
    uvicorn.config.HTTP_PROTOCOLS["auto"] = PROTOCOL_PATH
    uvicorn.config.HTTP_PROTOCOLS["httptools"] = PROTOCOL_PATH
