"""python -m credit_risk.fairness: fairness of the decisions recorded, by group.

    python -m credit_risk.fairness [--records monitoring/] [--since 2026-12-01T00:00Z]
                                   [--model credit_risk_model:1abc] [-o reports/fairness]

Writes ``fairness.html`` and ``fairness.json`` into the output folder: approval rate
and adverse impact ratio per age band and marital status over the decision records.
Exit code: 0 no group below four fifths of its most favoured group, 1 some group
below, 3 no records to read, 4 bad usage.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Final

from rich.console import Console
from rich.table import Table

from credit_risk.commands import add_records_options, command_parser
from credit_risk.fairness.report import COLUMNS, cells, write_report
from credit_risk.fairness.table import fairness_table
from credit_risk.records.reader import (
    ReadStats,
    iter_records,
    record_files,
)

EXIT_FLAGGED: Final = 1
EXIT_NOTHING_TO_READ: Final = 3

console = Console(stderr=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = command_parser("python -m credit_risk.fairness", __doc__)
    add_records_options(parser)
    parser.add_argument("--model", help="only this model tag's records (default: every model)")
    parser.add_argument(
        "-o", "--output", type=Path, default=Path("reports/fairness"), help="output folder"
    )
    return parser.parse_args(argv)


def _usable(record: dict[str, Any]) -> bool:
    application = record.get("application")
    return (
        isinstance(application, dict)
        and isinstance(application.get("age"), int | float)
        and isinstance(application.get("marital"), str)
        and isinstance(record.get("status"), str)
    )


def main(argv: list[str] | None = None) -> int:
    """Build the report; returns the exit code."""
    args = parse_args(argv)
    stats = ReadStats()
    ages, maritals, statuses = [], [], []
    for record in iter_records(
        record_files(args.records), stats, model_tag=args.model, since=args.since, usable=_usable
    ):
        ages.append(record["application"]["age"])
        maritals.append(record["application"]["marital"])
        statuses.append(record["status"])
    if not statuses:
        console.print(
            f"No decision records under {args.records}: {stats.files} files, "
            f"{stats.lines} lines, {stats.skipped} skipped"
        )
        return EXIT_NOTHING_TO_READ
    population = f"decision records under {args.records}" + (
        f" since {args.since.isoformat()}" if args.since else ""
    )
    table = fairness_table(population, age=ages, marital=maritals, status=statuses)
    write_report(
        table,
        args.output,
        title="Fairness of the decisions recorded",
        note="Outcomes are not in the records: default rates by group are in the "
        "outcomes report (python -m credit_risk.outcomes).",
    )
    summary = Table(title=f"Fairness over {len(statuses):,} decisions")
    for column in COLUMNS[:5]:
        summary.add_column(column)
    for row in table.rows:
        summary.add_row(*cells(row)[:5])
    console.print(summary)
    console.print(f"Report: {args.output / 'fairness.html'}, {args.output / 'fairness.json'}")
    return EXIT_FLAGGED if table.flagged else 0


if __name__ == "__main__":
    sys.exit(main())
