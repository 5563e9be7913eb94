"""Outcomes in and the back-test, at scale: records and outcomes of N decisions.

    python benchmarks/outcomes_join.py [--rows 1000000]   # figures in docs/benchmarks.md

Writes N decision records (the contract's format, ~700 bytes each, in 8 files as
8 workers would) and an outcome CSV for them (drawn from the records' own
probabilities), then times the two commands as an operator runs them, each in its
own process: ``python -m credit_risk.outcomes load`` (read the records, join,
store) and ``report`` (read the records again, join, back-test, HTML + JSON).
Prints wall seconds and peak resident memory of each (``wait4``'s ``ru_maxrss``).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from credit_risk.records.format import decision_record, record_line  # noqa: E402
from credit_risk.schema import COURSE_EXAMPLE  # noqa: E402

FILES = 8
MARITAL = ("single", "married", "widow", "separated", "divorced")


def write_records(folder: Path, rows: int) -> None:
    """``rows`` decision records over six months, spread over ``FILES`` files."""
    rng = np.random.default_rng(0)
    probabilities = rng.beta(1.3, 5, rows).astype(np.float32).astype(float).tolist()
    ages = rng.integers(18, 80, rows).tolist()
    months = rng.integers(1, 7, rows).tolist()
    folder.mkdir(parents=True)
    streams = [(folder / f"bench-{i}.jsonl").open("wb") for i in range(FILES)]
    reasons = [{"code": "R09", "field": "income", "contribution": 0.5427}] * 3
    for row in range(rows):
        p = probabilities[row]
        decision = {
            "decision_id": f"{row:08d}-0000-4000-8000-000000000000",
            "model_tag": "credit_risk_model:bench" if row % 5 else "credit_risk_model:next",
            "policy_version": "course-2024.1",
            "status": "APPROVED" if p <= 0.25 else "MAYBE" if p <= 0.5 else "DECLINED",
            "default_probability": p,
            "score": int(600 - 300 * p),
            "reasons": reasons,
            "out_of_training_range": [],
        }
        application = {**COURSE_EXAMPLE, "age": ages[row], "marital": MARITAL[row % 5]}
        record = decision_record(
            application,
            decision,
            endpoint="/classify",
            latency_ms=1.0,
            time=f"2026-{months[row]:02d}-15T10:00:00.000000Z",
        )
        streams[row % FILES].write(record_line(record))
    for stream in streams:
        stream.close()


def timed(command: list[str]) -> tuple[float, float, int]:
    """Wall seconds, peak RSS in MiB and exit code of one process."""
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return time.perf_counter() - start, usage.ru_maxrss / 1024, process.returncode


def main() -> None:
    """Write the data, run load and report, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        monitoring = Path(folder) / "monitoring"
        started = time.perf_counter()
        write_records(monitoring / "decisions", args.rows)
        size = sum(f.stat().st_size for f in (monitoring / "decisions").iterdir())
        print(
            f"{args.rows:,} records, {size / 2**20:,.0f} MiB in {FILES} files, "
            f"written in {time.perf_counter() - started:.1f} s"
        )
        outcomes = Path(folder) / "outcomes.csv"
        base = [sys.executable, "-m", "credit_risk.outcomes", "--monitoring-dir", str(monitoring)]
        for name, command in (
            ("simulate (not timed for the target)", [*base, "simulate", "-o", str(outcomes)]),
            ("load", [*base, "load", str(outcomes)]),
            ("report", [*base, "report", "-o", str(Path(folder) / "report")]),
        ):
            seconds, peak, code = timed(command)
            print(f"{name}: {seconds:.1f} s, peak RSS {peak:,.0f} MiB, exit code {code}")


if __name__ == "__main__":
    main()
