"""python -m credit_risk.drift: PSI of the decision records against the model's reference.

    python -m credit_risk.drift [--records monitoring/] [--since 2026-12-01T00:00Z]
                                [--model credit_risk_model:latest] [-o reports/drift]

Writes ``drift.html`` and ``drift.json`` into the output folder. Exit code: 0 every
PSI stable (< 0.10), 1 some to watch (0.10 to 0.25), 2 some to act on (> 0.25),
3 nothing to compare (model not in the store, or no records of it), 4 bad usage.
Needs the ``train`` extra (matplotlib) for the charts.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
from pathlib import Path
from typing import Final

from rich.console import Console
from rich.table import Table

from credit_risk.commands import command_parser
from credit_risk.drift.psi import ReferenceBins
from credit_risk.drift.report import (
    DriftReport,
    has_drift_fields,
    measure,
    write_html,
    write_json,
)
from credit_risk.model import DEFAULT_MODEL_TAG
from credit_risk.model.metadata import ModelMetadata
from credit_risk.records.reader import (
    ReadStats,
    iter_records,
    parse_time,
    record_files,
)

EXIT_NOTHING_TO_COMPARE: Final = 3

console = Console(stderr=True)


def _since(text: str) -> dt.datetime:
    try:
        return parse_time(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from error


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = command_parser("python -m credit_risk.drift", __doc__)
    parser.add_argument(
        "--records",
        type=Path,
        default=Path("monitoring"),
        help="folder searched for *.jsonl and *.parquet decision records (default: monitoring)",
    )
    parser.add_argument("--since", type=_since, help="only records from this ISO time on")
    parser.add_argument(
        "--model",
        default=DEFAULT_MODEL_TAG,
        help="model store tag whose records and reference are compared (default: latest)",
    )
    parser.add_argument(
        "-o", "--output", type=Path, default=Path("reports/drift"), help="output folder"
    )
    return parser.parse_args(argv)


def _summary(report: DriftReport) -> Table:
    table = Table(title=f"PSI against the reference of {report.model_tag}")
    table.add_column("field")
    table.add_column("PSI", justify="right")
    table.add_column("band")
    for drift in sorted(report.fields, key=lambda f: f.psi, reverse=True):
        table.add_row(drift.name, f"{drift.psi:.3f}", str(drift.band))
    return table


def main(argv: list[str] | None = None) -> int:
    """Build the report; returns the exit code."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    import bentoml

    try:
        model = bentoml.models.get(args.model)
    except bentoml.exceptions.NotFound:
        console.print(f"Model {args.model} is not in the model store (BENTOML_HOME).")
        return EXIT_NOTHING_TO_COMPARE
    tag = str(model.tag)
    bins = ReferenceBins.from_reference(ModelMetadata.model_validate(model.info.metadata).reference)
    stats = ReadStats()
    report = measure(
        bins,
        iter_records(
            record_files(args.records),
            stats,
            model_tag=tag,
            since=args.since,
            usable=has_drift_fields,
        ),
        model_tag=tag,
        since=args.since,
        stats=stats,
    )
    if stats.used == 0:
        seen = ", ".join(f"{other} ({n})" for other, n in stats.other_models.most_common())
        console.print(
            f"No decision records of {tag} under {args.records}"
            + (f" since {args.since.isoformat()}" if args.since else "")
            + f": {stats.files} files, {stats.lines} lines"
            + (f"; records of other models: {seen} (choose one with --model)" if seen else "")
        )
        return EXIT_NOTHING_TO_COMPARE
    args.output.mkdir(parents=True, exist_ok=True)
    write_json(report, args.output / "drift.json")
    write_html(report, args.output / "drift.html")
    console.print(_summary(report))
    console.print(
        f"{stats.used} records of {tag} from {stats.files} files; skipped {stats.partial} "
        f"partial, {stats.unreadable} unreadable, {sum(stats.other_models.values())} of "
        f"other models, {stats.before_since} before --since. Overall: {report.band}. "
        f"Report: {args.output / 'drift.html'}"
    )
    return report.band.severity


if __name__ == "__main__":
    sys.exit(main())
