"""What a decision record costs, in process: building its line, and the group commit.

    python benchmarks/records_cost.py            # ~10 s; figures in docs/records.md

Builds the line of one decision (``decision_lines``), then commits lines from
an event loop through a real ``RecordWriter`` into a temporary directory:
one request at a time (the latency a lone request pays) and 16 at a time
(what group commit makes of concurrency), without and with fsync.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from credit_risk.features import application_columns  # noqa: E402
from credit_risk.records import RecordWriter, application_rows, decision_lines  # noqa: E402
from credit_risk.schema import COURSE_EXAMPLE, CreditApplication, Decision, Reason  # noqa: E402

APPLICATION = CreditApplication.model_validate(COURSE_EXAMPLE)
DECISION = Decision(
    status="MAYBE",
    default_probability=0.3254925608634949,
    score=440,
    reasons=[
        Reason(code=f"R0{i}", field="income", text="Income not declared.", contribution=0.5)
        for i in range(1, 5)
    ],
    out_of_training_range=[],
    model_tag="credit_risk_model:abc",
    policy_version="course-2024.1",
    decision_id="1f0e3c7e-9d6b-4b8e-8f7a-2b0c6a1d9e55",
)


def per_call_us(function: object, repeat: int) -> float:
    """Median over 5 runs of the microseconds one call takes."""
    runs = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(repeat):
            function()  # type: ignore[operator]
        runs.append((time.perf_counter() - started) / repeat * 1e6)
    return statistics.median(runs)


async def commits(writer: RecordWriter, line: bytes, total: int, concurrency: int) -> float:
    """Microseconds per record, ``total`` records from ``concurrency`` tasks."""

    async def client(count: int) -> None:
        for _ in range(count):
            await writer.commit([line])

    started = time.perf_counter()
    await asyncio.gather(*(client(total // concurrency) for _ in range(concurrency)))
    return (time.perf_counter() - started) / total * 1e6


def main() -> None:
    """Print the figures."""

    # What the service holds when it records: the application's fields, and the
    # decision in its JSON form.
    applications = application_rows(application_columns([APPLICATION]))
    decisions = [DECISION.model_dump()]

    def build() -> list[bytes]:
        return decision_lines(applications, decisions, endpoint="/classify", latency_ms=1.0)

    (line,) = build()
    print(f"record line: {len(line)} bytes, built in {per_call_us(build, 5000):.1f} us")
    for fsync in (False, True):
        with (
            tempfile.TemporaryDirectory(dir=ROOT) as directory,
            RecordWriter.to_directory(directory, fsync=fsync) as writer,
        ):
            for concurrency, total in ((1, 2000 if not fsync else 200), (16, 8000)):
                cost = asyncio.run(commits(writer, line, total, concurrency))
                print(
                    f"commit, fsync={fsync!s:5}, {concurrency:2} at a time: "
                    f"{cost:7.1f} us per record (wall)"
                )


if __name__ == "__main__":
    main()
