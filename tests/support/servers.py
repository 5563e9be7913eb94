"""Servers on loopback: start one in its own process group, wait for its ``/readyz``, stop it.

The one place that waits for readiness: the tests, ``benchmarks/bench.py``,
``benchmarks/soak.py`` and ``deploy/docker/rolling_update.py`` all use ``wait_ready``.
It is a plain module (the standard library only, no pytest), so that scripts run from
the repository root as ``python benchmarks/bench.py`` can import it once the root is on
``sys.path``. It is harness code, not the product's: the bento includes ``credit_risk/``
whole, and none of this belongs in the image.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

ROOT: Final = Path(__file__).resolve().parents[2]
"""The repository root: where ``bentoml serve .`` runs."""
BENTOML_CLI: Final = Path(sys.executable).parent / "bentoml"
READY_TIMEOUT_S: Final = 90
READY_POLL_S: Final = 0.05
_DIRECT: Final = urllib.request.build_opener(urllib.request.ProxyHandler({}))
"""Probes go straight to the server: a proxy set in the environment is not in the way."""


PORT_ATTEMPTS: Final = 3
"""Ports ``start_server`` tries when another process takes the one it picked."""


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _log_tail(log_path: Path | None) -> str:
    return "" if log_path is None else ":\n" + log_path.read_text(errors="replace")


def wait_ready(
    url: str,
    process: subprocess.Popen[bytes] | None = None,
    log_path: Path | None = None,
    timeout: float = READY_TIMEOUT_S,
    path: str = "/readyz",
) -> float:
    """Poll ``URL/readyz`` (or ``path``) until it answers 200; returns the seconds it took.

    Raises ``RuntimeError`` as soon as ``process`` (the server, or whatever follows a
    container's log) exits, and ``TimeoutError`` after ``timeout``; both carry the log.
    """
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if process is not None and process.poll() is not None:
            raise RuntimeError(
                f"{url}: server exited with {process.returncode}{_log_tail(log_path)}"
            )
        try:
            with _DIRECT.open(f"{url}{path}", timeout=2) as answer:
                if answer.status == 200:
                    return time.monotonic() - started
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass  # not listening yet, or 503 while it loads (HTTPError is a URLError)
        except http.client.HTTPException:
            # Not HTTP: another process held the port between free_port() and the
            # server's bind (seen once in CI, "BadStatusLine: \xff..."). If it keeps it,
            # the server exits (address in use) and start_server tries another port.
            pass
        time.sleep(READY_POLL_S)
    raise TimeoutError(f"{url}{path} not 200 after {timeout} s{_log_tail(log_path)}")


class OutputValve:
    """A pipe for a server's output, copied to its log file by a thread that can stop
    reading: a log collector falling behind. Held, the pipe fills and every write to it
    blocks, records on ``stdout`` included, so answers wait until it is released."""

    def __init__(self, log_path: Path) -> None:
        """Open the pipe; ``write_fd`` is the server's end."""
        self._read_fd, self.write_fd = os.pipe()
        self._flowing = threading.Event()
        self._flowing.set()
        self._log_path = log_path
        threading.Thread(target=self._copy, daemon=True).start()

    def hold(self) -> None:
        """Stop reading (at most one more chunk is copied)."""
        self._flowing.clear()

    def release(self) -> None:
        """Read again, and on until the server closes its end."""
        self._flowing.set()

    def _copy(self) -> None:
        with os.fdopen(self._read_fd, "rb", buffering=0) as pipe, self._log_path.open("ab") as log:
            while self._flowing.wait() and (chunk := pipe.read(1 << 16)):
                log.write(chunk)
                log.flush()


@dataclass
class Server:
    """A running server on loopback (``bentoml serve`` or any other command)."""

    url: str
    process: subprocess.Popen[bytes]
    topology: str
    monitoring_dir: Path
    log_path: Path
    valve: OutputValve | None = None
    ready_seconds: float = 0.0

    def log(self) -> str:
        """What the server printed so far."""
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM the whole process group and wait (SIGKILL after ``timeout``); returns
        the exit code."""
        if self.valve is not None:
            self.valve.release()
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        return self.process.returncode


def launch(
    command: Sequence[str],
    *,
    port: int,
    log_path: Path,
    env: Mapping[str, str],
    topology: str = "",
    monitoring_dir: Path | None = None,
    valve: bool = False,
    timeout: float = READY_TIMEOUT_S,
) -> Server:
    """Run ``command`` (which listens on ``port``) from the repository root, in its own
    process group, and wait for its ``/readyz``; on failure the group is stopped.

    ``env`` is the whole environment. Output goes to ``log_path``, through an
    ``OutputValve`` (``Server.valve``) with ``valve``.
    """
    log_path.write_bytes(b"")
    output = OutputValve(log_path) if valve else None
    started = time.monotonic()
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            list(command),
            cwd=ROOT,
            env=dict(env),
            stdout=log if output is None else output.write_fd,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    if output is not None:
        os.close(output.write_fd)  # the server's end: closed by it, EOF ends the copy
    server = Server(
        f"http://127.0.0.1:{port}",
        process,
        topology,
        monitoring_dir if monitoring_dir is not None else log_path.parent,
        log_path,
        output,
    )
    try:
        wait_ready(server.url, process, log_path, timeout)
    except BaseException:
        server.stop()
        raise
    server.ready_seconds = time.monotonic() - started
    return server


def bentoml_serve(target: str, port: int) -> list[str]:
    """The ``bentoml serve`` command line for ``target`` on loopback."""
    return [str(BENTOML_CLI), "serve", target, "--host", "127.0.0.1", "--port", str(port)]


def serve_expecting_refusal(port: int, env: Mapping[str, str], timeout: float = 120) -> str:
    """Run ``bentoml serve .`` on ``port``, which must refuse to start (exit non-zero);
    its output. A bounded run: a server that respawned workers forever would hit the
    timeout."""
    result = subprocess.run(
        bentoml_serve(".", port),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    return output


def start_server(
    tmp_root: Path,
    topology: str,
    serve_target: str = ".",
    extra_env: Mapping[str, str] | None = None,
    *,
    valve: bool = False,
) -> Server:
    """Start ``bentoml serve`` in ``topology`` on a free loopback port and wait for it.

    Its decision records go to ``tmp_root/monitoring/<topology>-<port>`` and its output
    to ``tmp_root/server-<topology>-<port>.log``; ``extra_env`` is added to this
    process's environment.
    """
    for attempt in range(PORT_ATTEMPTS):
        port = free_port()
        name = f"{topology}-{port}"
        monitoring_dir = tmp_root / "monitoring" / name
        env = {
            **os.environ,
            "CREDIT_RISK_TOPOLOGY": topology,
            "CREDIT_RISK_MONITORING_DIR": str(monitoring_dir),
            **(extra_env or {}),
        }
        try:
            return launch(
                bentoml_serve(serve_target, port),
                port=port,
                log_path=tmp_root / f"server-{name}.log",
                env=env,
                topology=topology,
                monitoring_dir=monitoring_dir,
                valve=valve,
            )
        except RuntimeError as exited:
            # Only a port taken between free_port() and the bind is worth another try.
            if "address already in use" not in str(exited).lower() or attempt == PORT_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def raw_classify_request() -> bytes:
    """One ``/classify`` request of the course's example as raw HTTP/1.1 bytes, for tests
    that write to a socket themselves (pipelining, which worker holds a connection)."""
    from credit_risk.schema import COURSE_EXAMPLE

    body = json.dumps(COURSE_EXAMPLE).encode()
    head = (
        "POST /classify HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body
