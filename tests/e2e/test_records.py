"""No decision without its record: the writer alone, then real servers with broken storage.

The server tests put the records directory on a size-limited tmpfs (``mount``
needs root: CI runs as root; elsewhere they skip, and fail under ``CI=true``),
replace it with a file, and kill or stop the workers under load. Each checks
the rule from the outside: every decision answered 200 has its record on disk,
matched by decision id, and every other answer is the 503 that says why.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest

from credit_risk.records import (
    SUSPENDED,
    read_records,
)
from credit_risk.schema import COURSE_EXAMPLE
from tests.support.records import assert_only_last_lines_torn
from tests.support.servers import Server, free_port, serve_expecting_refusal, start_server

# --- Real servers, broken storage (the writer alone: tests/unit/records/) ---------------


@dataclass
class Answer:
    """One request: its endpoint, status, body and Retry-After header."""

    endpoint: str
    status: int | str
    body: dict
    retry_after: str | None = None
    ended: float = 0.0
    """``time.monotonic()`` when the answer (or the error) came."""


BATCH = 5


async def _load(
    url: str, *, concurrency: int, total: int | None = None, seconds: float | None = None
) -> list[Answer]:
    """Singles and batches of BATCH from ``concurrency`` clients, for a count or a time."""
    answers: list[Answer] = []
    sent = 0
    deadline = time.monotonic() + (seconds or 1e9)

    async def client(http: httpx.AsyncClient, number: int) -> None:
        nonlocal sent
        while time.monotonic() < deadline and (total is None or sent < total):
            sent += 1
            batch = (sent + number) % 4 == 0
            endpoint = "/classify_batch" if batch else "/classify"
            payload = {"applications": [COURSE_EXAMPLE] * BATCH} if batch else COURSE_EXAMPLE
            try:
                response = await http.post(endpoint, json=payload)
            except httpx.HTTPError as error:
                answers.append(Answer(endpoint, type(error).__name__, {}, None, time.monotonic()))
                await asyncio.sleep(0.05)
                continue
            answers.append(
                Answer(
                    endpoint,
                    response.status_code,
                    response.json() if response.content else {},
                    response.headers.get("retry-after"),
                    time.monotonic(),
                )
            )

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as http:
        await asyncio.gather(*(client(http, n) for n in range(concurrency)))
    return answers


def _answered_ids(answers: list[Answer]) -> Counter[str]:
    ids: Counter[str] = Counter()
    for answer in answers:
        if answer.status != 200:
            continue
        decisions = answer.body.get("decisions", [answer.body])
        ids.update(decision["decision_id"] for decision in decisions)
    return ids


def _assert_refusals_are_the_clear_503(answers: list[Answer]) -> None:
    for answer in answers:
        if answer.status == 200:
            continue
        assert answer.status == 503, answer
        assert answer.body["error"].startswith(SUSPENDED + " ("), answer
        assert answer.retry_after is not None and int(answer.retry_after) > 0


def _readyz(url: str, polls: int = 10) -> set[int]:
    """/readyz statuses over several polls, a new connection each, so that they reach
    different workers (a keep-alive connection stays with one)."""
    return {httpx.get(f"{url}/readyz", timeout=10).status_code for _ in range(polls)}


def _wait_readyz(url: str, status: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _readyz(url) == {status}:
            return
        time.sleep(0.2)
    raise AssertionError(f"/readyz never settled on {status}: {_readyz(url)}")


def _metric(url: str, name: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    values = [
        float(line.rpartition(" ")[2])
        for line in text.splitlines()
        if line.startswith(name) and not line.startswith("#")
    ]
    assert values, f"{name} not in /metrics"
    return sum(values)


def _wait_metric(url: str, name: str, value: float, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while _metric(url, name) != value:
        assert time.monotonic() < deadline, f"{name} never reached {value}: {_metric(url, name)}"
        time.sleep(0.2)


def _error_lines(server: Server) -> list[str]:
    return [line for line in server.log().splitlines() if "cannot be written to" in line]


@pytest.mark.parametrize("topology", ["embedded", "remote"])
def test_full_disk_refuses_decisions_without_losing_one_and_recovers(
    small_tmpfs: Path, tmp_root: Path, trained_model: str, topology: str
) -> None:
    # Leave room for about a hundred records; the filler is the "disk" to free later.
    filler = small_tmpfs / "filler"
    filler.write_bytes(b"\0" * 176 * 1024)
    server = start_server(
        tmp_root, topology, extra_env={"CREDIT_RISK_MONITORING_DIR": str(small_tmpfs)}
    )
    server.monitoring_dir = small_tmpfs
    try:
        answers = asyncio.run(_load(server.url, concurrency=8, total=500))
        statuses = Counter(a.status for a in answers)
        answered = _answered_ids(answers)
        read = read_records(small_tmpfs)
        on_disk = Counter(r["decision_id"] for r in read.records)
        print(f"\n{topology}: {dict(statuses)}, {len(on_disk)} records")  # noqa: T201
        assert statuses[200] > 10 and statuses[503] > 100, statuses
        # The rule: every decision answered has its record, and nothing else is there.
        assert on_disk == answered and read.skipped == 0
        _assert_refusals_are_the_clear_503(answers)
        for answer in answers:
            if answer.status == 200 and answer.endpoint == "/classify_batch":
                assert len(answer.body["decisions"]) == BATCH  # answered whole
        _wait_readyz(server.url, 503)
        assert _metric(server.url, "credit_decision_records_writable") == 0
        assert _metric(server.url, "credit_decision_records_failed_total") >= statuses[503]
        # One ERROR line per worker and change of state, not one per refusal (two
        # workers share the disk; a second outage per worker is tolerated, a line
        # per request is not).
        errors = _error_lines(server)
        assert 1 <= len(errors) <= 4 and all("ERROR" in line for line in errors), errors
        assert "No space left on device" in errors[0]

        filler.unlink()  # space is back: no restart
        _wait_readyz(server.url, 200)
        after = asyncio.run(_load(server.url, concurrency=4, total=40))
        assert {a.status for a in after} == {200}
        assert _answered_ids(after) <= Counter(
            r["decision_id"] for r in read_records(small_tmpfs).records
        )
        # Every worker finds out by its own probe (once a second), with or without
        # traffic: the gauge shows the worst live worker.
        _wait_metric(server.url, "credit_decision_records_writable", 1)
        assert "writable again" in server.log()
    finally:
        server.stop()


def test_directory_replaced_by_a_file_at_run_time_refuses_then_recovers(
    tmp_root: Path, trained_model: str, tmp_path: Path
) -> None:
    monitoring = tmp_path / "monitoring"
    server = start_server(
        tmp_root, "embedded", extra_env={"CREDIT_RISK_MONITORING_DIR": str(monitoring)}
    )
    moved = tmp_path / "moved"
    try:
        before = asyncio.run(_load(server.url, concurrency=4, total=40))
        monitoring.rename(moved)
        monitoring.write_text("a file where the records directory was")
        during = asyncio.run(_load(server.url, concurrency=4, total=60))
        _wait_readyz(server.url, 503)
        assert {a.status for a in before} == {200}
        assert {a.status for a in during} == {503}
        _assert_refusals_are_the_clear_503(during)
        assert "Not a directory" in during[0].body["error"]
        errors = _error_lines(server)
        assert 1 <= len(errors) <= 2 and str(monitoring / "decisions") in errors[0], errors

        monitoring.unlink()
        moved.rename(monitoring)
        _wait_readyz(server.url, 200)
        after = asyncio.run(_load(server.url, concurrency=4, total=40))
        assert {a.status for a in after} == {200}
        on_disk = Counter(r["decision_id"] for r in read_records(monitoring).records)
        assert on_disk == _answered_ids(before) + _answered_ids(after)
    finally:
        server.stop()


def test_unusable_records_directory_refuses_to_start_naming_the_path(
    tmp_path: Path, trained_model: str
) -> None:
    not_a_dir = tmp_path / "monitoring"
    not_a_dir.write_text("")
    output = serve_expecting_refusal(
        free_port(), {**os.environ, "CREDIT_RISK_MONITORING_DIR": str(not_a_dir)}
    )
    assert f"Decision records cannot be written to {not_a_dir / 'decisions'}" in output, output
    assert "CREDIT_RISK_MONITORING_DIR" in output and "Traceback" not in output, output


def _api_workers(server: Server) -> list[psutil.Process]:
    return [
        child
        for child in psutil.Process(server.process.pid).children(recursive=True)
        if "credit_risk_runner" not in " ".join(child.cmdline())
    ]


def test_workers_killed_under_load_lose_no_answered_record(
    tmp_root: Path, trained_model: str
) -> None:
    server = start_server(tmp_root, "embedded")
    try:
        victims = _api_workers(server)
        assert len(victims) == 2, victims

        async def load_and_kill() -> list[Answer]:
            loading = asyncio.create_task(_load(server.url, concurrency=16, seconds=6))
            await asyncio.sleep(2)
            for victim in victims:
                victim.send_signal(signal.SIGKILL)
            return await loading

        answers = asyncio.run(load_and_kill())
        answered = _answered_ids(answers)
        on_disk = Counter(r["decision_id"] for r in read_records(server.monitoring_dir).records)
        statuses = Counter(a.status for a in answers)
        print(f"\nkilled: {dict(statuses)}, {sum(on_disk.values())} records")  # noqa: T201
        assert statuses[200] > 20, statuses
        assert not answered - on_disk, "answered decisions without a record"
        assert_only_last_lines_torn(server.monitoring_dir)
    finally:
        server.stop()


def test_sigterm_under_load_drains_with_every_answered_record(
    tmp_root: Path, trained_model: str
) -> None:
    server = start_server(tmp_root, "embedded")
    answers: list[Answer] = []
    sigterm_at = 0.0

    async def load_and_stop() -> None:
        nonlocal sigterm_at
        loading = asyncio.create_task(_load(server.url, concurrency=16, seconds=4))
        await asyncio.sleep(2)
        sigterm_at = time.monotonic()
        os.killpg(server.process.pid, signal.SIGTERM)
        answers.extend(await loading)

    try:
        asyncio.run(load_and_stop())
        exit_code = server.process.wait(timeout=60)
    finally:
        server.stop()
    read = read_records(server.monitoring_dir)
    on_disk = Counter(r["decision_id"] for r in read.records)
    statuses = Counter(a.status for a in answers)
    print(f"\nSIGTERM: {dict(statuses)}, {sum(on_disk.values())} records")  # noqa: T201
    assert exit_code == 0, server.log()[-3000:]
    assert statuses[200] > 20, statuses
    # Drained: requests in flight at the signal were answered after it, records first.
    assert any(a.status == 200 and a.ended > sigterm_at for a in answers), statuses
    assert not _answered_ids(answers) - on_disk, "answered decisions without a record"
    assert read.skipped == 0  # a drain leaves no torn line


def test_stdout_sink_server_writes_every_answered_record_to_standard_output(
    tmp_root: Path, trained_model: str
) -> None:
    server = start_server(tmp_root, "embedded", extra_env={"CREDIT_RISK_RECORDS_SINK": "stdout"})
    try:
        answers = asyncio.run(_load(server.url, concurrency=8, total=200))
    finally:
        server.stop()
    assert {a.status for a in answers} == {200}
    # What a log collector reads: BentoML's own log lines, and our records, whole.
    printed: Counter[str] = Counter()
    for line in server.log().splitlines():
        if line.startswith("{"):
            printed[json.loads(line)["decision_id"]] += 1
    assert printed == _answered_ids(answers)
    assert not server.monitoring_dir.exists()
