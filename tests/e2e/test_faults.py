"""Faults: a missing model, a runner worker killed under load, and SIGTERM.

Each test runs its own ``bentoml serve``: they break or stop it on purpose.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest

from credit_risk.schema import COURSE_EXAMPLE
from tests.support.servers import Server, free_port, serve_expecting_refusal, start_server

RUNNER_SERVICE = "credit_risk_runner"


@pytest.mark.parametrize(
    ("topology", "store", "tag"),
    [
        ("embedded", "empty", None),
        ("remote", "empty", None),
        ("embedded", "trained", "credit_risk_model:doesnotexist"),
    ],
)
def test_missing_model_refuses_to_start_naming_the_tag_and_how_to_train(
    tmp_root: Path, trained_model: str, topology: str, store: str, tag: str | None
) -> None:
    env = {**os.environ, "CREDIT_RISK_TOPOLOGY": topology}
    if store == "empty":
        empty_home = tmp_root / f"empty-bentoml-home-{topology}"
        empty_home.mkdir(exist_ok=True)
        env["BENTOML_HOME"] = str(empty_home)
    if tag is not None:
        env["CREDIT_RISK_MODEL_TAG"] = tag
    port = free_port()
    started = time.monotonic()
    output = serve_expecting_refusal(port, env)
    expected_tag = tag or "credit_risk_model:latest"
    assert f"Model {expected_tag} is not in the model store" in output, output
    assert "python train.py" in output and "make serve" in output, output
    assert "Traceback" not in output, output
    assert time.monotonic() - started < 60
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{port}/livez", timeout=2)


@dataclass
class Outcome:
    """One request of a load: when it started and ended (s from the load's start), and how."""

    started: float
    ended: float
    status: int | str


def _runner_workers(server: Server) -> list[psutil.Process]:
    return [
        child
        for child in psutil.Process(server.process.pid).children(recursive=True)
        if RUNNER_SERVICE in " ".join(child.cmdline())
    ]


CONCURRENCY = 8
RECOVERY_TIMEOUT_S = 60
KILL_AFTER_S = 2.0


async def _load_while_killing_the_runner(server: Server) -> tuple[list[Outcome], float, int]:
    """Load from CONCURRENCY clients; SIGKILL the runner; keep loading until it is back."""
    outcomes: list[Outcome] = []
    origin = time.monotonic()
    stop = asyncio.Event()
    killed_at = -1.0
    victims = _runner_workers(server)
    assert len(victims) == 1, victims

    async def client(http: httpx.AsyncClient) -> None:
        while not stop.is_set():
            started = time.monotonic() - origin
            try:
                response = await http.post("/classify", json=COURSE_EXAMPLE)
                status: int | str = response.status_code
            except httpx.HTTPError as error:
                status = type(error).__name__
            outcomes.append(Outcome(started, time.monotonic() - origin, status))

    async def killer() -> None:
        nonlocal killed_at
        await asyncio.sleep(KILL_AFTER_S)
        killed_at = time.monotonic() - origin
        victims[0].send_signal(signal.SIGKILL)
        # Recovered: a request sent after the kill has succeeded; then load a little more.
        while time.monotonic() - origin < killed_at + RECOVERY_TIMEOUT_S:
            if any(o.status == 200 and o.started > killed_at + 1 for o in outcomes):
                await asyncio.sleep(2)
                break
            await asyncio.sleep(0.2)
        stop.set()

    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=60) as http:
        await asyncio.gather(killer(), *(client(http) for _ in range(CONCURRENCY)))
    return outcomes, killed_at, victims[0].pid


def test_runner_killed_under_load_recovers_failing_only_requests_in_flight(
    tmp_root: Path, trained_model: str
) -> None:
    server = start_server(tmp_root, "remote")
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            assert http.post("/classify", json=COURSE_EXAMPLE).status_code == 200
        outcomes, killed_at, killed_pid = asyncio.run(_load_while_killing_the_runner(server))

        failures = [o for o in outcomes if o.status != 200]
        after_kill = [o for o in outcomes if o.started > killed_at + 1]
        print(  # noqa: T201 - the figures go in the test report
            f"\n{len(outcomes)} requests, runner killed at {killed_at:.1f} s, "
            f"{len(failures)} failed: {[(round(o.started, 2), o.status) for o in failures]}, "
            f"slowest after the kill {max(o.ended - o.started for o in after_kill):.1f} s"
        )
        # Only what was in flight when the runner died may fail, and as an
        # HTTP error, not a hang or a dropped connection.
        assert len(failures) <= CONCURRENCY, failures
        assert all(o.started < killed_at + 1 and o.ended > killed_at for o in failures), failures
        assert all(isinstance(o.status, int) and o.status >= 500 for o in failures), failures
        # Requests sent while the runner restarted waited for it and succeeded.
        assert after_kill and all(o.status == 200 for o in after_kill)

        replacements = _runner_workers(server)
        assert [p.pid for p in replacements] != [killed_pid] and len(replacements) == 1
        with httpx.Client(base_url=server.url, timeout=30) as http:
            assert http.get("/readyz").status_code == 200
            statuses = {http.post("/classify", json=COURSE_EXAMPLE).status_code for _ in range(200)}
        assert statuses == {200}
    finally:
        server.stop()


IN_FLIGHT_BATCHES = 4
"""Full batches of 1,000, sent together and held in flight at SIGTERM."""

SIGNALLED_FOR_S = 1.0
"""How long the batches stay held after SIGTERM: the workers are shutting down meanwhile."""

_METRIC = re.compile(
    r'^bentoml_service_(?P<name>request_in_progress|request_total)\{endpoint="(?P<endpoint>[^"]+)"'
    r".*\} (?P<value>[0-9.e+]+)$",
    re.MULTILINE,
)


def _started(http: httpx.Client, endpoint: str) -> float:
    """Requests the server has begun on ``endpoint``: those in progress plus those done."""
    metrics = http.get("/metrics").text
    return sum(
        float(match["value"])
        for match in _METRIC.finditer(metrics)
        if match["endpoint"] == endpoint
    )


def _printed_record_ids(log: str) -> Counter[str]:
    """Decision ids of the records a server printed (the ``stdout`` sink), by count."""
    return Counter(
        json.loads(line)["decision_id"] for line in log.splitlines() if line.startswith("{")
    )


@pytest.mark.parametrize("topology", ["embedded", "remote"])
def test_sigterm_lets_in_flight_requests_finish_then_exits_0(
    tmp_root: Path, trained_model: str, topology: str
) -> None:
    # Records go to standard output, a pipe this test stops reading: the batches'
    # answers wait for their records, so they are in flight when SIGTERM comes, however
    # fast the server is. No access log: it would block the event loops before that.
    server = start_server(
        tmp_root,
        topology,
        extra_env={"CREDIT_RISK_RECORDS_SINK": "stdout", "CREDIT_RISK_ACCESS_LOG": "false"},
        valve=True,
    )
    assert server.valve is not None
    content = json.dumps({"applications": [COURSE_EXAMPLE] * 1000}).encode()
    headers = {"content-type": "application/json"}
    results: list[tuple[int | str, float, list[str]]] = []
    # Connections are opened and bodies encoded beforehand, so that requests
    # reach the server at once rather than queue in this process.
    clients = [httpx.Client(base_url=server.url, timeout=60) for _ in range(IN_FLIGHT_BATCHES)]
    start = threading.Barrier(IN_FLIGHT_BATCHES + 1)
    origin = 0.0
    # In flight means begun by the API (embedded) or already handed to the
    # runner (remote): the runner gets SIGTERM with the API workers, so a
    # request still being validated then would find it gone (see docs/reliability.md, Faults).
    stage = "/classify_batch" if topology == "embedded" else "/explain_many"

    def post(http: httpx.Client) -> None:
        start.wait()
        try:
            response = http.post("/classify_batch", content=content, headers=headers)
            decided = response.json()["decisions"] if response.is_success else []
            ids = [decision["decision_id"] for decision in decided]
            results.append((response.status_code, time.monotonic() - origin, ids))
        except httpx.HTTPError as error:
            results.append((type(error).__name__, time.monotonic() - origin, []))

    try:
        with httpx.Client(base_url=server.url, timeout=10) as probe:
            for http in clients:
                assert http.post("/classify_batch", content=content, headers=headers).is_success
            threads = [threading.Thread(target=post, args=(http,)) for http in clients]
            for thread in threads:
                thread.start()
            before = _started(probe, stage)
            server.valve.hold()
            origin = time.monotonic()
            start.wait()
            while _started(probe, stage) < before + IN_FLIGHT_BATCHES:
                assert time.monotonic() - origin < 10, "the batches never reached the server"
        sigterm_at = time.monotonic() - origin
        os.killpg(server.process.pid, signal.SIGTERM)
        time.sleep(SIGNALLED_FOR_S)
        answered_while_held = list(results)
        server.valve.release()
        for thread in threads:
            thread.join(timeout=60)
        exit_code = server.process.wait(timeout=60)
    finally:
        for http in clients:
            http.close()
        server.stop()

    print(  # noqa: T201 - the figures go in the test report
        f"\n{topology}: SIGTERM at {sigterm_at:.2f} s; "
        f"answers {[(status, round(at, 2)) for status, at, _ in results]}; exit {exit_code}"
    )
    assert not answered_while_held, "answered before its records were written"
    assert [(status, len(ids)) for status, _, ids in results] == [
        (200, 1000)
    ] * IN_FLIGHT_BATCHES, results
    assert all(at > sigterm_at + SIGNALLED_FOR_S for _, at, _ in results), results
    assert exit_code == 0, server.log()[-3000:]
    # Each answered decision has exactly one record, written before the exit.
    printed = _printed_record_ids(server.log())
    assert all(printed[decision_id] == 1 for _, _, ids in results for decision_id in ids)
