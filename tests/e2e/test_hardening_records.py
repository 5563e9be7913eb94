"""The audit trail holds: all or nothing, once. A CSV request refused with 503 leaves no
record (a real ``bentoml serve`` whose records disk fills up half way through the
request); ``score.py`` run again with its run id writes the same decision ids, and the
records reader keeps one record per decision."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest

from credit_risk.records import read_records
from credit_risk.schema import COURSE_EXAMPLE, application_records
from credit_risk.vocabulary import APPLICATION_FIELDS
from tests.support.records import small_tmpfs_at
from tests.support.servers import ROOT, start_server

CSV = {"content-type": "text/csv"}
ROW = ",".join(str(COURSE_EXAMPLE[name]) for name in APPLICATION_FIELDS) + "\n"
HEADER = ",".join(APPLICATION_FIELDS) + "\n"
ROWS = 1_800
"""More than one 1,000-row chunk: the first chunk's records (~750 kB) fit on the 1 MiB
disk below, the whole request's (~1.35 MB) do not."""


@pytest.fixture
def one_mib_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs: room for one 1,000-row chunk's records, not for 1,800 rows'."""
    with small_tmpfs_at(tmp_path / "records") as mount_point:
        subprocess.run(
            ["mount", "-o", "remount,size=1m", str(mount_point)],
            check=True,
            capture_output=True,
            timeout=30,
        )
        yield mount_point


def test_a_csv_request_refused_half_way_leaves_no_records(
    tmp_root: Path, trained_model: str, one_mib_tmpfs: Path
) -> None:
    server = start_server(
        tmp_root,
        "embedded",
        extra_env={
            "CREDIT_RISK_MONITORING_DIR": str(one_mib_tmpfs),
            "CREDIT_RISK_MAX_CSV_ROWS": str(ROWS),
            "CREDIT_RISK_API_WORKERS": "1",
        },
    )
    try:
        response = httpx.post(
            f"{server.url}/classify_csv", content=HEADER + ROW * ROWS, headers=CSV, timeout=60
        )
    finally:
        server.stop()
    assert response.status_code == 503, response.text[:300]
    # Before: the first chunk's 1,000 records stayed, for decisions never answered.
    read = read_records(one_mib_tmpfs)
    assert (len(read.records), read.skipped) == (0, 0)


def _score(*args: str, records: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "CREDIT_RISK_MONITORING_DIR": str(records)}
    return subprocess.run(
        [sys.executable, str(ROOT / "score.py"), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )


def test_score_py_run_again_with_its_run_id_writes_the_same_ids_and_they_are_read_once(
    tmp_path: Path, trained_model: str, course_frame: pd.DataFrame
) -> None:
    portfolio = tmp_path / "portfolio.csv"
    with portfolio.open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=APPLICATION_FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(
            {k: "" if v is None else v for k, v in row.items()}
            for row in application_records(course_frame.head(200))
        )
    records = tmp_path / "monitoring"
    first = _score(str(portfolio), "-o", str(tmp_path / "first.csv"), records=records)
    assert first.returncode == 0, first.stderr
    # A run without --run-id prints the one it made up, to repeat the run with.
    run_id = first.stderr.split("--run-id ")[1].split(")")[0].strip()
    again = _score(
        str(portfolio), "-o", str(tmp_path / "again.csv"), "--run-id", run_id, records=records
    )
    assert again.returncode == 0, again.stderr
    ids = pd.read_csv(tmp_path / "first.csv").decision_id.tolist()
    assert pd.read_csv(tmp_path / "again.csv").decision_id.tolist() == ids
    assert len(set(ids)) == 200

    read = read_records(records)
    assert sorted(record["decision_id"] for record in read.records) == sorted(ids)
    assert (read.stats.lines, read.stats.duplicates) == (400, 200)

    other = _score(str(portfolio), "-o", str(tmp_path / "other.csv"), records=records)
    assert other.returncode == 0, other.stderr
    assert set(pd.read_csv(tmp_path / "other.csv").decision_id).isdisjoint(ids)
