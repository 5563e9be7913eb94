"""API workers that share a listening socket take turns by open connections.

``bentoml serve`` hands its API workers one listening socket; each worker's event loop
(uvloop, on libuv) accepts whenever the socket is readable. Every worker is woken by a
new connection and the first to run takes it; libuv takes one per wake, but the same
worker is usually first again a few microseconds later, so two connections opened
together land on one worker in most trials (17 of 20, measured). With keep-alive that
placement lasts: a batch client with two connections then keeps one core busy and the
other idle. (libuv's ``UV_TCP_SINGLE_ACCEPT``, made for this, is gone since libuv 1.45,
which accepts one connection per wake anyway: it is not enough.)

Here the worker accepts itself. Each worker publishes its open connections on a
``ConnectionBoard``; when the socket is readable, a worker holding more connections than
the least loaded live peer steps aside (stops watching the socket) in steps of
``DEFER_STEP_S``, so that the peer, woken by the same connection, takes it. Stepping aside
is bounded (``max_defer_s``): a peer that is stopped, stuck or too busy to accept delays a
connection by that much at most, never refuses it.

``install_balanced_accept`` makes uvicorn's event loop (``loop="auto"``) one whose
``create_server`` on an inherited TCP socket returns a ``BalancedServer``; everything
else is uvloop's.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import select
import socket
import ssl as ssl_module
import time
from collections.abc import Callable
from typing import Any, Final

import uvicorn.config
import uvloop

from credit_risk.serving.connection_board import MAX_SLOTS, ConnectionBoard, board_path

logger = logging.getLogger("credit_risk.balanced_accept")

DEFER_STEP_S: Final = 0.001
"""How long a worker stays out of the way before looking again (while deferring)."""

REFRESH_S: Final = 0.05
"""How often a worker with open connections republishes their number, so that closed
connections show on the board (accepts publish at once)."""

ACCEPT_RETRY_S: Final = 1.0
"""After accept fails for lack of descriptors or memory, as asyncio's own server does."""

_OUT_OF_RESOURCES: Final = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})

LOOP_FACTORY_PATH: Final = f"{__name__}:balancing_loop_factory"
"""Where uvicorn's ``import_from_string`` finds the loop factory."""


class BalancedServer(asyncio.AbstractServer):
    """An asyncio server on an inherited listening socket that accepts one connection at a
    time, stepping aside while another worker on ``board`` holds fewer connections."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        protocol_factory: Callable[[], asyncio.BaseProtocol],
        listener: socket.socket,
        board: ConnectionBoard,
        *,
        max_defer_s: float,
        ssl: ssl_module.SSLContext | None = None,
    ) -> None:
        """Start accepting on ``listener`` (already bound and listening)."""
        self._loop = loop
        self._factory = protocol_factory
        self._listener = listener
        self._fd = listener.fileno()
        self._board = board
        self._max_defer_s = max_defer_s
        self._ssl = ssl
        self._transports: list[asyncio.BaseTransport] = []
        self._starting = 0
        """Connections accepted whose transport is not made yet (counted as open)."""
        self._serving = True
        self._watching = False
        self._defer_began: float | None = None
        """When this worker began stepping aside for the connection now waiting."""
        self._timer: asyncio.TimerHandle | None = None
        self._refresher: asyncio.TimerHandle | None = None
        self._closed = loop.create_future()
        listener.setblocking(False)
        self._watch()

    # --- asyncio.AbstractServer ------------------------------------------------------

    def close(self) -> None:
        """Stop accepting and leave the board; open connections are the caller's to end."""
        if not self._serving:
            return
        self._serving = False
        self._unwatch()
        for handle in (self._timer, self._refresher):
            if handle is not None:
                handle.cancel()
        self._board.close()
        if not self._closed.done():
            self._closed.set_result(None)

    def get_loop(self) -> asyncio.AbstractEventLoop:
        """The loop this server accepts on."""
        return self._loop

    def is_serving(self) -> bool:
        """Whether it still accepts."""
        return self._serving

    async def start_serving(self) -> None:
        """Nothing to do: it accepts from its creation."""

    async def serve_forever(self) -> None:
        """Wait until closed."""
        await asyncio.shield(self._closed)

    async def wait_closed(self) -> None:
        """Wait until closed."""
        await asyncio.shield(self._closed)

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        """The listening socket, while serving."""
        return (self._listener,) if self._serving else ()

    # --- accepting -------------------------------------------------------------------

    def open_connections(self) -> int:
        """Connections this server accepted that are still open."""
        self._transports = [t for t in self._transports if not t.is_closing()]
        return len(self._transports) + self._starting

    def _readable(self) -> None:
        if not self._serving:
            return
        if self._should_defer():
            self._unwatch()
            self._timer = self._loop.call_later(DEFER_STEP_S, self._look_again)
            return
        self._accept_one()

    def _should_defer(self) -> bool:
        fewest = self._board.fewest_elsewhere()
        if fewest is None or self.open_connections() <= fewest:
            return False
        now = time.monotonic()
        if self._defer_began is None:
            self._defer_began = now
        # Past the bound, take it: the peer may be stopped, stuck or busy.
        return now - self._defer_began < self._max_defer_s

    def _look_again(self) -> None:
        self._timer = None
        if not self._serving:
            return
        if not _readable_now(self._fd):
            # Another worker took the connection we stepped aside for.
            self._defer_began = None
            self._watch()
            return
        self._readable()

    def _accept_one(self) -> None:
        # One connection per wake, as libuv does: between two accepts the loop turns, and
        # the board is read again before the next.
        self._watch()
        try:
            connection, _address = self._listener.accept()
        except (BlockingIOError, InterruptedError):
            self._defer_began = None  # a peer took it first
            return
        except ConnectionAbortedError:
            return  # the client gave up while queued
        except OSError as failure:
            if failure.errno not in _OUT_OF_RESOURCES:
                raise
            logger.error("accept failed (%s); retrying in %.0f s", failure, ACCEPT_RETRY_S)
            self._unwatch()
            self._timer = self._loop.call_later(ACCEPT_RETRY_S, self._look_again)
            return
        self._defer_began = None
        # Counted and published now: the transport is made on the loop's next turn, and
        # the next connection may be waiting already.
        self._starting += 1
        self._board.publish(self.open_connections())
        self._loop.create_task(self._serve(connection))

    async def _serve(self, connection: socket.socket) -> None:
        transport: asyncio.BaseTransport | None = None
        try:
            transport, _protocol = await self._loop.connect_accepted_socket(
                self._factory, connection, ssl=self._ssl
            )
        except Exception:
            logger.exception("a connection accepted could not be served")
            connection.close()
        finally:
            self._starting -= 1
        if transport is not None:
            self._transports.append(transport)
        self._publish()

    def _publish(self) -> None:
        # Until this worker holds no connection, the board is refreshed now and then:
        # closed connections must show, or peers would defer to a stale count.
        if not self._serving:
            return
        connections = self.open_connections()
        self._board.publish(connections)
        if self._refresher is not None:
            self._refresher.cancel()
            self._refresher = None
        if connections:
            self._refresher = self._loop.call_later(REFRESH_S, self._publish)

    def _watch(self) -> None:
        if not self._watching and self._serving:
            self._loop.add_reader(self._fd, self._readable)
            self._watching = True

    def _unwatch(self) -> None:
        if self._watching:
            self._loop.remove_reader(self._fd)
            self._watching = False


def _readable_now(fd: int) -> bool:
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))


class _Balancing:
    """What ``install_balanced_accept`` set for this process."""

    slot: int | None = None
    max_defer_s: float = 0.0


class BalancingLoop(uvloop.Loop):
    """uvloop's loop, but a server on an inherited TCP listening socket is a
    ``BalancedServer`` once ``install_balanced_accept`` has run."""

    async def create_server(  # type: ignore[override]
        self,
        protocol_factory: Callable[[], asyncio.BaseProtocol],
        host: Any = None,
        port: Any = None,
        *,
        sock: socket.socket | None = None,
        ssl: ssl_module.SSLContext | None = None,
        backlog: int = 100,
        **options: Any,
    ) -> asyncio.AbstractServer:
        """``BalancedServer`` on ``sock`` (a TCP socket, nothing else asked); else uvloop's."""
        slot = _Balancing.slot
        if (
            slot is None
            or sock is None
            or host is not None
            or port is not None
            or options
            or sock.family not in (socket.AF_INET, socket.AF_INET6)
        ):
            return await super().create_server(
                protocol_factory, host, port, sock=sock, ssl=ssl, backlog=backlog, **options
            )
        sock.listen(backlog)  # as uvloop does: the socket's backlog is the server's
        board = ConnectionBoard(board_path(sock.fileno()), slot)
        return BalancedServer(
            self, protocol_factory, sock, board, max_defer_s=_Balancing.max_defer_s, ssl=ssl
        )


def balancing_loop_factory(use_subprocess: bool = False) -> Callable[[], asyncio.AbstractEventLoop]:
    """uvicorn's loop factory (``Config.get_loop_factory``): the ``BalancingLoop`` class."""
    del use_subprocess  # uvloop's factory ignores it as well
    return BalancingLoop


def install_balanced_accept(worker_index: int | None, max_defer_ms: float) -> bool:
    """Make uvicorn's servers in this process take turns with the other workers on their
    listening socket; returns whether it did.

    Call it before uvicorn starts (at the import of ``service.py``). Nothing happens in a
    process that is not a numbered worker (``worker_index`` ``None``: the process that
    starts the service, a test), beyond ``MAX_SLOTS`` workers, or with ``max_defer_ms`` 0.

    Args:
        worker_index: BentoML's ``server_context.worker_index`` (1-based).
        max_defer_ms: the longest a worker steps aside for a connection, in ms.
    """
    if max_defer_ms < 0:
        raise ValueError(f"max_defer_ms must not be negative, not {max_defer_ms}")
    if worker_index is None or not 1 <= worker_index <= MAX_SLOTS or max_defer_ms == 0:
        return False
    _Balancing.slot = worker_index - 1
    _Balancing.max_defer_s = max_defer_ms / 1000
    # Uvicorn resolves Config(loop="auto") through this table when it runs
    # (uvicorn.config.Config.get_loop_factory, uvicorn 0.55): BentoML leaves loop at "auto".
    uvicorn.config.LOOP_FACTORIES["auto"] = LOOP_FACTORY_PATH
    uvicorn.config.LOOP_FACTORIES["uvloop"] = LOOP_FACTORY_PATH
    return True
