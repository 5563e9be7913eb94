"""Balanced accepting, in process on uvloop: ``BalancedServer`` on a real listening socket
with a small echo protocol, peers on a real board (other slots of the same file).

Two servers on one socket, as two workers: connections opened together are shared out;
a server steps aside for a peer holding fewer connections, for the bound and no longer;
none steps aside for a peer holding as many. ``install_balanced_accept`` only in a
numbered worker. Across real workers: ``tests/e2e/test_worker_balance.py``.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import cast

import pytest
import uvicorn.config
import uvloop

from credit_risk.serving import balanced_accept
from credit_risk.serving.balanced_accept import (
    REFRESH_S,
    BalancedServer,
    BalancingLoop,
    install_balanced_accept,
)
from credit_risk.serving.connection_board import ConnectionBoard


class Echo(asyncio.Protocol):
    """Answers every read with the same bytes."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Keep the transport to answer on (uvloop's is not an ``asyncio.Transport``)."""
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        """Echo."""
        self.transport.write(data)


def _run(scenario: Callable[[], Awaitable[None]]) -> None:
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(scenario())


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A listening socket on loopback."""
    with socket.create_server(("127.0.0.1", 0)) as sock:
        yield sock


async def _echo_took(port: int) -> tuple[float, asyncio.StreamWriter]:
    """Open a connection and time an echo on it; the writer, to close it later."""
    began = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"ping")
    assert await asyncio.wait_for(reader.readexactly(4), 5) == b"ping"
    return time.monotonic() - began, writer


def _server(listener: socket.socket, board: ConnectionBoard, bound: float) -> BalancedServer:
    # A copy of the socket each, as each worker has: uvloop watches a descriptor once.
    copy = listener.dup()
    server = BalancedServer(asyncio.get_running_loop(), Echo, copy, board, max_defer_s=bound)
    _COPIES.append(copy)
    return server


_COPIES: list[socket.socket] = []


@pytest.fixture(autouse=True)
def _close_copies() -> Iterator[None]:
    yield
    while _COPIES:
        _COPIES.pop().close()


def test_two_workers_on_one_socket_share_connections_opened_together(
    listener: socket.socket, tmp_path: Path
) -> None:
    port = listener.getsockname()[1]
    path = tmp_path / "board"

    async def scenario() -> None:
        servers = [_server(listener, ConnectionBoard(path, slot), 1.0) for slot in (0, 1)]
        try:
            for _ in range(5):
                clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(2)]
                deadline = time.monotonic() + 5
                while sum(s.open_connections() for s in servers) < 2:
                    assert time.monotonic() < deadline
                    await asyncio.sleep(0.005)
                assert [s.open_connections() for s in servers] == [1, 1]
                for client in clients:
                    client.close()
                while sum(s.open_connections() for s in servers):
                    assert time.monotonic() < deadline + 5
                    await asyncio.sleep(0.005)
                await asyncio.sleep(2 * REFRESH_S)  # the board shows the closes
        finally:
            for server in servers:
                server.close()
                await server.wait_closed()

    _run(scenario)
    assert not path.exists()


def test_a_worker_steps_aside_for_a_less_loaded_peer_for_the_bound_only(
    listener: socket.socket, tmp_path: Path
) -> None:
    port = listener.getsockname()[1]
    bound = 0.3
    peer = ConnectionBoard(tmp_path / "board", 1)  # live (this process), never accepts

    async def scenario() -> None:
        server = _server(listener, ConnectionBoard(tmp_path / "board", 0), bound)
        try:
            first_took, first = await _echo_took(port)
            assert first_took < bound / 2  # nobody holds fewer than its 0
            second_took, second = await _echo_took(port)
            # It held 1, the peer 0: it stepped aside, then took the connection anyway.
            assert bound * 0.9 <= second_took < bound + 2.0
            assert server.open_connections() == 2
            peer.publish(2)  # the peer now holds as many or more: no stepping aside
            third_took, third = await _echo_took(port)
            assert third_took < bound / 2
            for writer in (first, second, third):
                writer.close()
        finally:
            server.close()

    try:
        _run(scenario)
    finally:
        peer.close()


def test_closed_connections_leave_the_board(listener: socket.socket, tmp_path: Path) -> None:
    port = listener.getsockname()[1]
    peer = ConnectionBoard(tmp_path / "board", 1)

    async def scenario() -> None:
        server = _server(listener, ConnectionBoard(tmp_path / "board", 0), 1.0)
        try:
            _took, writer = await _echo_took(port)
            assert peer.fewest_elsewhere() == 1
            writer.close()
            await asyncio.sleep(4 * REFRESH_S)
            assert peer.fewest_elsewhere() == 0
        finally:
            server.close()
        assert not server.is_serving()
        assert peer.fewest_elsewhere() is None  # a closed server leaves the board

    try:
        _run(scenario)
    finally:
        peer.close()


@pytest.fixture
def loop_factories() -> Iterator[None]:
    """uvicorn's table and the process's balancing, restored after the test."""
    saved = dict(uvicorn.config.LOOP_FACTORIES)
    slot, bound = balanced_accept._Balancing.slot, balanced_accept._Balancing.max_defer_s
    yield
    uvicorn.config.LOOP_FACTORIES.clear()
    uvicorn.config.LOOP_FACTORIES.update(saved)
    balanced_accept._Balancing.slot, balanced_accept._Balancing.max_defer_s = slot, bound


@pytest.mark.parametrize(("worker_index", "max_defer_ms"), [(None, 50.0), (1, 0.0), (65, 50.0)])
def test_installed_only_in_a_numbered_worker_with_a_bound(
    loop_factories: None, worker_index: int | None, max_defer_ms: float
) -> None:
    before = dict(uvicorn.config.LOOP_FACTORIES)
    assert not install_balanced_accept(worker_index, max_defer_ms)
    assert before == uvicorn.config.LOOP_FACTORIES


def test_installed_uvicorn_serves_an_inherited_socket_balanced(
    loop_factories: None, listener: socket.socket
) -> None:
    assert install_balanced_accept(2, 50.0)
    factory = uvicorn.config.Config(app=None, loop="auto").get_loop_factory()
    assert factory is BalancingLoop

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        copy = listener.dup()
        _COPIES.append(copy)
        server = await loop.create_server(Echo, sock=copy)
        try:
            assert isinstance(server, BalancedServer)
            _took, writer = await _echo_took(listener.getsockname()[1])
            writer.close()
        finally:
            server.close()
        # Anything else is uvloop's own server.
        plain = await loop.create_server(Echo, host="127.0.0.1", port=0)
        assert not isinstance(plain, BalancedServer)
        plain.close()

    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(scenario())


def test_a_negative_bound_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        install_balanced_accept(1, -1.0)
