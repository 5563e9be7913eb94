"""Bounded request heads and bounded metric labels, over real sockets to ``bentoml serve``.

* a head larger than ``CREDIT_RISK_MAX_HEAD_BYTES`` is answered 431 (an 8 MiB one: 431
  or a closed connection, never 200), a head under it is served;
* connections that send a head slowly, or nothing at all, are closed within
  ``CREDIT_RISK_HEAD_TIMEOUT_S`` (with a 408 when part of a head came);
* an idle kept-alive connection outlives uvicorn's 5 s (``CREDIT_RISK_KEEP_ALIVE_S``,
  75 s), so that a front or a client pool reusing it does not lose a request;
* requests to unknown paths add no ``endpoint`` label values to ``/metrics``, while the
  API's routes, the mounts and the access log keep their real paths.

They run on a server of its own with a 2 s head deadline, in the embedded topology only:
the bounds live in the API worker's uvicorn protocol, the same process in both
topologies (tests/deploy/test_replicas.py attacks the remote one behind HAProxy).
"""

from __future__ import annotations

import json
import re
import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from credit_risk.schema import COURSE_EXAMPLE
from tests.support.servers import Server, start_server

HEAD_TIMEOUT_S = 2.0
"""The deadline the servers here run with (``CREDIT_RISK_HEAD_TIMEOUT_S``)."""
DEADLINE_SLACK_S = 1.5
"""How late past the deadline a connection may close: timers, a loaded 2-core machine."""
MAX_HEAD_BYTES = 65_536
"""The default of ``CREDIT_RISK_MAX_HEAD_BYTES``."""
EIGHT_MIB = 8 * 1024 * 1024
SLOW_CONNECTIONS = 20
SILENT_CONNECTIONS = 2
UNKNOWN_PATHS = 100
UNKNOWN_LABEL = "<unknown>"


UVICORN_KEEP_ALIVE_S = 5.0
"""Uvicorn's idle keep-alive, which ``bentoml serve`` passes unless told otherwise."""


@pytest.fixture(scope="module")
def bounded_server(tmp_root: Path, trained_model: str) -> Iterator[Server]:
    """A server of its own: the slow connections must not share its workers with others."""
    running = start_server(
        tmp_root,
        "embedded",
        extra_env={"CREDIT_RISK_HEAD_TIMEOUT_S": str(HEAD_TIMEOUT_S)},
    )
    yield running
    running.stop()


def _address(server: Server) -> tuple[str, int]:
    parts = urlsplit(server.url)
    assert parts.hostname is not None and parts.port is not None
    return parts.hostname, parts.port


def _head(size: int, path: str = "/livez") -> bytes:
    """A GET head of about ``size`` bytes, most of them one header's value."""
    start = f"GET {path} HTTP/1.1\r\nHost: test\r\nX-Filler: ".encode()
    return start + b"a" * max(0, size - len(start) - 4) + b"\r\n\r\n"


def _answer(raw: socket.socket, timeout: float = 10) -> bytes:
    """What the server sends until it closes the connection (or ``timeout``)."""
    raw.settimeout(timeout)
    received = b""
    try:
        while chunk := raw.recv(65536):
            received += chunk
            if b"\r\n\r\n" in received and b"connection: close" not in received.lower():
                break  # a kept-alive answer: the head is all we look at
    except (TimeoutError, ConnectionResetError):
        pass
    return received


def test_head_over_the_limit_is_a_431_and_one_under_it_is_served(
    bounded_server: Server,
) -> None:
    address = _address(bounded_server)
    with socket.create_connection(address, timeout=10) as raw:
        raw.sendall(_head(MAX_HEAD_BYTES // 2))
        assert _answer(raw).startswith(b"HTTP/1.1 200"), "a 32 KiB head must be served"
    with socket.create_connection(address, timeout=10) as raw:
        raw.sendall(_head(MAX_HEAD_BYTES + 1024))
        answer = _answer(raw)
    assert answer.startswith(b"HTTP/1.1 431"), answer[:200]
    assert json.loads(answer.partition(b"\r\n\r\n")[2])["error"]


def test_8_mib_header_is_refused_not_served(bounded_server: Server) -> None:
    head = _head(EIGHT_MIB)
    started = time.monotonic()
    with socket.create_connection(_address(bounded_server), timeout=10) as raw:
        try:
            for start in range(0, len(head), 1 << 16):
                raw.sendall(head[start : start + (1 << 16)])
        except OSError:
            pass  # the server stopped reading: what a bound looks like from here
        answer = _answer(raw)
    elapsed = time.monotonic() - started
    assert not answer.startswith(b"HTTP/1.1 200"), f"an 8 MiB head was served in {elapsed:.1f} s"
    assert answer == b"" or answer.startswith(b"HTTP/1.1 431"), answer[:200]
    # The worker is none the worse.
    assert httpx.get(f"{bounded_server.url}/livez", timeout=10).status_code == 200


def test_idle_kept_alive_connection_outlives_uvicorns_default(bounded_server: Server) -> None:
    request = _head(0)
    with socket.create_connection(_address(bounded_server), timeout=10) as raw:
        raw.sendall(request)
        assert _answer(raw).startswith(b"HTTP/1.1 200")
        time.sleep(UVICORN_KEEP_ALIVE_S + 1)
        raw.sendall(request)
        again = _answer(raw)
    assert b"HTTP/1.1 200" in again, f"closed after {UVICORN_KEEP_ALIVE_S + 1} s idle"


def test_slow_and_silent_heads_are_closed_within_the_deadline(bounded_server: Server) -> None:
    address = _address(bounded_server)
    slow = [socket.create_connection(address, timeout=5) for _ in range(SLOW_CONNECTIONS)]
    silent = [socket.create_connection(address, timeout=5) for _ in range(SILENT_CONNECTIONS)]
    try:
        closed_after, answers = _trickle_heads(slow, silent)
        # Meanwhile the service answers everyone else.
        assert httpx.get(f"{bounded_server.url}/livez", timeout=10).status_code == 200
    finally:
        for raw in slow + silent:
            raw.close()
    still_open = len(slow) + len(silent) - len(closed_after)
    closings = sorted(round(after, 1) for after in closed_after.values())
    assert still_open == 0, (
        f"{still_open} of {len(slow) + len(silent)} connections still open; closed: {closings}"
    )
    latest = max(closed_after.values())
    assert latest <= HEAD_TIMEOUT_S + DEADLINE_SLACK_S, f"last one closed after {latest:.1f} s"
    for raw in slow:
        assert answers[raw].startswith(b"HTTP/1.1 408"), answers[raw][:200]


def _trickle_heads(
    slow: list[socket.socket], silent: list[socket.socket]
) -> tuple[dict[socket.socket, float], dict[socket.socket, bytes]]:
    """Send ``slow`` one header line each every 0.5 s, as a slowloris does (faster than
    the deadline: only a deadline on the whole head closes them), ``silent`` nothing;
    returns when each connection closed (s after opening) and what it was answered."""
    opened = time.monotonic()
    for raw in slow:
        raw.sendall(b"GET /livez HTTP/1.1\r\nHost: test\r\n")
    closed_after: dict[socket.socket, float] = {}
    answers: dict[socket.socket, bytes] = {raw: b"" for raw in slow + silent}
    give_up = opened + HEAD_TIMEOUT_S + DEADLINE_SLACK_S + 2
    line, next_line = 0, opened
    while (now := time.monotonic()) < give_up:
        waiting = [raw for raw in slow + silent if raw not in closed_after]
        if not waiting:
            break
        if now >= next_line:
            for raw in set(waiting) & set(slow):
                try:
                    raw.sendall(f"X-Slow-{line}: 1\r\n".encode())
                except OSError:
                    closed_after[raw] = now - opened
            line, next_line = line + 1, next_line + 0.5
        readable, _, _ = select.select(waiting, [], [], max(0.0, next_line - time.monotonic()))
        for raw in readable:
            try:
                chunk = raw.recv(4096)
            except ConnectionResetError:
                chunk = b""
            answers[raw] += chunk
            if not chunk:
                closed_after[raw] = time.monotonic() - opened
    return closed_after, answers


def _endpoint_labels(server: Server) -> set[str]:
    text = httpx.get(f"{server.url}/metrics", timeout=30).text
    return set(re.findall(r'endpoint="([^"]*)"', text))


def test_unknown_paths_add_no_endpoint_label_values(bounded_server: Server) -> None:
    url = bounded_server.url
    with httpx.Client(base_url=url, timeout=30) as http:
        # Every kind of known path once, so that their own labels exist before.
        assert http.post("/classify", json=COURSE_EXAMPLE).status_code == 200
        assert http.get("/app/").status_code == 200
        assert http.get("/static_content/index.css").status_code == 200
        # /metrics itself: the protocol's histogram counts a scrape once it is answered.
        assert http.get("/metrics").status_code == 200
        before = _endpoint_labels(bounded_server)
        size_before = len(http.get("/metrics").content)

        paths = [f"/no-such-page-{i}" for i in range(UNKNOWN_PATHS - 20)]
        paths += [f"/app/no-such-{i}.js" for i in range(10)]  # under the page's mount
        paths += [f"/static_content/no-such-{i}.css" for i in range(10)]  # under BentoML's
        for path in paths:
            assert http.get(path).status_code == 404, path

        after = _endpoint_labels(bounded_server)
        size_after = len(http.get("/metrics").content)
        # The real paths still reach what serves them.
        assert http.get("/app/").status_code == 200
        assert http.get("/static_content/index.css").status_code == 200
        assert http.post("/classify", json=COURSE_EXAMPLE).status_code == 200

    added = after - before
    assert added <= {UNKNOWN_LABEL}, f"{len(added)} new endpoint labels: {sorted(added)[:5]}"
    assert {"/classify", "/app", "/static_content"} <= after, sorted(after)
    # Three new (endpoint, status) pairs, 404 under <unknown>, /app and /static_content,
    # in both request histograms and BentoML's counter: a few KiB each, about 43 KiB in
    # all. A label per path was 12 KiB each (1.2 MB here).
    assert size_after - size_before < 65_536, (size_before, size_after)
    # The access log still names the path that was asked for.
    log = bounded_server.log()
    assert "path=/no-such-page-7," in log or "path=/no-such-page-7)" in log, log[-2000:]
    assert f"path={UNKNOWN_LABEL}" not in log
