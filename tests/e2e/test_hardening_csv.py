"""One CSV request must not hold a worker: on a real ``bentoml serve`` (SageMaker's paths
on), a hostile header is refused in linear time, and ``/classify_csv`` and SageMaker's CSV
``/invocations`` take at most ``CREDIT_RISK_MAX_CSV_ROWS`` applications, refusing more
with 413 and no records."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from credit_risk.records import read_records
from credit_risk.schema import COURSE_EXAMPLE
from credit_risk.vocabulary import APPLICATION_FIELDS
from tests.support.servers import Server, start_server

CSV = {"content-type": "text/csv"}
CAP = 1_000
"""The default ``CREDIT_RISK_MAX_CSV_ROWS``: ``/classify_batch``'s 1,000."""
ROW = ",".join(str(COURSE_EXAMPLE[name]) for name in APPLICATION_FIELDS) + "\n"
HEADER = ",".join(APPLICATION_FIELDS) + "\n"
SMALL, LARGE = 4_000, 16_000
MAX_GROWTH = 8.0
"""Allowed growth of the answer time for 4 times the columns: linear ~4 (less, with the
request's fixed cost), quadratic ~16 (measured x17.5 before the fix)."""
ATTEMPTS, BUDGET_S = 10, 60.0


@pytest.fixture(scope="module")
def sagemaker_server(tmp_root: Path, trained_model: str) -> Iterator[Server]:
    """The service with SageMaker's paths, every setting but that one at its default."""
    server = start_server(tmp_root, "embedded", extra_env={"CREDIT_RISK_SAGEMAKER": "true"})
    yield server
    server.stop()


def _records(server: Server) -> int:
    return len(read_records(server.monitoring_dir).records)


def test_classify_csv_decides_the_cap_and_refuses_one_more_with_413_and_no_records(
    sagemaker_server: Server,
) -> None:
    url = f"{sagemaker_server.url}/classify_csv"
    before = _records(sagemaker_server)
    at_cap = httpx.post(url, content=HEADER + ROW * CAP, headers=CSV, timeout=60)
    assert at_cap.status_code == 200, at_cap.text
    assert len(at_cap.text.splitlines()) == CAP + 1
    assert _records(sagemaker_server) == before + CAP

    over = httpx.post(url, content=HEADER + ROW * (CAP + 1), headers=CSV, timeout=60)
    assert over.status_code == 413, over.text
    assert over.json()["error"] == (
        "Request too large: more than 1,000 applications in one request; send at most "
        "1,000 rows per request (split the file), or use score.py for a whole portfolio."
    )
    # The case: a 1 MiB body of 33,545 rows, decided whole before.
    many = (1_048_576 - len(HEADER)) // len(ROW)
    huge = httpx.post(url, content=HEADER + ROW * many, headers=CSV, timeout=60)
    assert huge.status_code == 413, huge.text[:200]
    assert _records(sagemaker_server) == before + CAP


def test_sagemaker_csv_invocations_have_the_same_cap(sagemaker_server: Server) -> None:
    url = f"{sagemaker_server.url}/invocations"
    before = _records(sagemaker_server)
    # Batch transform's headerless lines: the adapter adds the header.
    at_cap = httpx.post(url, content=ROW * CAP, headers=CSV, timeout=60)
    assert at_cap.status_code == 200, at_cap.text
    assert len(at_cap.text.splitlines()) == CAP
    over = httpx.post(url, content=ROW * (CAP + 1), headers=CSV, timeout=60)
    assert over.status_code == 413, over.text
    assert "more than 1,000 applications" in over.json()["error"]
    assert _records(sagemaker_server) == before + CAP


def _hostile_body(columns: int) -> bytes:
    header = [
        APPLICATION_FIELDS[i % len(APPLICATION_FIELDS)] if i % 4 else f"x{i}"
        for i in range(columns)
    ]
    return (",".join(header) + "\n" + ",".join(["1"] * columns) + "\n").encode()


def _answer_seconds(client: httpx.Client, body: bytes) -> float:
    started = time.perf_counter()
    response = client.post("/classify_csv", content=body, headers=CSV)
    elapsed = time.perf_counter() - started
    assert response.status_code == 400, response.text[:300]
    assert len(response.content) < 8_000  # names some columns, counts the rest
    return elapsed


def test_a_header_of_repeated_columns_is_refused_in_linear_time(
    sagemaker_server: Server,
) -> None:
    # The best of several answers, against the large body's best until it shows linear
    # growth: 5 other workloads share this machine's 2 cores.
    small_body, large_body = _hostile_body(SMALL), _hostile_body(LARGE)
    with httpx.Client(base_url=sagemaker_server.url, timeout=120) as client:
        small = min(_answer_seconds(client, small_body) for _ in range(5))
        large = float("inf")
        started = time.perf_counter()
        for _ in range(ATTEMPTS):
            small = min(small, _answer_seconds(client, small_body))
            large = min(large, _answer_seconds(client, large_body))
            if large / small < MAX_GROWTH or time.perf_counter() - started > BUDGET_S:
                break
    assert large / small < MAX_GROWTH, (
        f"{SMALL:,} columns answered in {small * 1000:.1f} ms, {LARGE:,} in "
        f"{large * 1000:.1f} ms: x{large / small:.1f} for x{LARGE / SMALL:.0f} columns"
    )
