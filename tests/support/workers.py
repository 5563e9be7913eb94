"""Which process of a ``bentoml serve`` holds a connection: psutil on its API workers.

For the tests and benchmarks that check how connections are placed across workers
(tests/e2e/test_worker_balance.py, benchmarks/worker_balance.py).
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Sequence

import psutil

WORKER_MODULE = "_bentoml_impl.worker.service"
"""What a BentoML worker runs: the server's processes with it on their command line."""
RUNNER_SERVICE = "credit_risk_runner"
"""On a remote runner worker's command line (its ``--service-name``)."""


def api_workers(server_pid: int) -> list[psutil.Process]:
    """The API worker processes of the ``bentoml serve`` whose process is ``server_pid``."""
    workers = []
    for child in psutil.Process(server_pid).children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):
            command = " ".join(child.cmdline())
            if WORKER_MODULE in command and RUNNER_SERVICE not in command:
                workers.append(child)
    return workers


def holder(workers: Sequence[psutil.Process], client: socket.socket) -> int | None:
    """The pid of the worker holding the server's end of ``client``'s connection (``None``
    while no worker has accepted it)."""
    mine = client.getsockname()[1]
    server_port = client.getpeername()[1]
    for worker in workers:
        with contextlib.suppress(psutil.NoSuchProcess):
            for connection in worker.net_connections("tcp"):
                if (
                    connection.laddr
                    and connection.raddr
                    and connection.laddr.port == server_port
                    and connection.raddr.port == mine
                ):
                    return worker.pid
    return None


def wait_holder(
    workers: Sequence[psutil.Process], client: socket.socket, timeout: float = 10.0
) -> int | None:
    """``holder``, polled until a worker has accepted the connection or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while (pid := holder(workers, client)) is None and time.monotonic() < deadline:
        time.sleep(0.01)
    return pid
