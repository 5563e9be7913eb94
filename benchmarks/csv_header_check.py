"""How long a hostile CSV header holds a worker: the header of repeated and unknown
names that ``/classify_csv``, SageMaker's CSV ``/invocations`` (``read_applications``) and
the batch column check (``check_columns``) refuse, at 4,000 and 16,000 columns.

In process, no server: the check itself, which a request waits for. Output, a Markdown
table with the growth for 4 times the columns (linear ~4, quadratic ~16)::

    | check | 4,000 columns ms | 16,000 columns ms | growth |

Each figure is the fastest of ``--rounds`` calls (the least disturbed by other work).

    python benchmarks/csv_header_check.py              # a few seconds
    python benchmarks/csv_header_check.py --rounds 3   # on a quadratic check: minutes
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

from credit_risk.batch.validation import ColumnsError, check_columns
from credit_risk.csv_format import CsvError, read_applications
from credit_risk.vocabulary import APPLICATION_FIELDS

SIZES = (4_000, 16_000)


def hostile_header(columns: int) -> list[str]:
    """The application's names over and over, every fourth an unknown one."""
    return [
        APPLICATION_FIELDS[i % len(APPLICATION_FIELDS)] if i % 4 else f"x{i}"
        for i in range(columns)
    ]


def _body_check(columns: int) -> Callable[[], None]:
    body = ",".join(hostile_header(columns)) + "\n" + ",".join(["1"] * columns) + "\n"

    def check() -> None:
        try:
            read_applications(body)
        except CsvError:
            return
        raise AssertionError("the hostile header was accepted")

    return check


def _columns_check(columns: int) -> Callable[[], None]:
    names = hostile_header(columns)

    def check() -> None:
        try:
            check_columns(names)
        except ColumnsError:
            return
        raise AssertionError("the hostile header was accepted")

    return check


CHECKS: dict[str, Callable[[int], Callable[[], None]]] = {
    "read_applications (/classify_csv, SageMaker CSV)": _body_check,
    "check_columns (score.py, Spark)": _columns_check,
}


def fastest_ms(check: Callable[[], None], rounds: int) -> float:
    """The fastest of ``rounds`` calls, in milliseconds."""
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        check()
        best = min(best, time.perf_counter() - started)
    return best * 1000


def main(argv: list[str] | None = None) -> int:
    """Print the table; returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20, help="calls per figure (default 20)")
    args = parser.parse_args(argv)
    lines = [
        f"| check | {SIZES[0]:,} columns ms | {SIZES[1]:,} columns ms | growth |",
        "|---|---:|---:|---:|",
    ]
    for name, make in CHECKS.items():
        small, large = (fastest_ms(make(size), args.rounds) for size in SIZES)
        lines.append(f"| {name} | {small:.2f} | {large:.2f} | x{large / small:.1f} |")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
