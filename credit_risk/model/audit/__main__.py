"""python -m credit_risk.model.audit: the fair-lending audits of a stored model.

    python -m credit_risk.model.audit [--model credit_risk_model:latest] [--data-dir data]
                                      [--generated 10000] [--seed 0] [--json audit.json]

Loads the model as the service does, and audits every row of the data (found as
``train.py`` finds it) and generated applications (drawn from the model's reference):
a protected field among the principal reasons, Regulation B's elderly rule, and every
declared field direction, proven exactly; and the issue's income sweep. Prints the
tables, writes the JSON with ``--json``. Exit code: 0 every property holds, 1 some
property fails, 3 nothing to audit (model not in the store, data unreadable), 4 bad
usage.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Final

from rich.console import Console
from rich.table import Table

from credit_risk.commands import command_parser
from credit_risk.model import DEFAULT_MODEL_TAG
from credit_risk.model.audit.applications import Applications
from credit_risk.model.audit.protected import DEFAULT_PROTECTED_FIELD
from credit_risk.model.audit.report import (
    SWEEP_DOMAIN,
    AuditReport,
    audit_population,
    income_sweep,
)
from credit_risk.vocabulary import APPLICATION_FIELDS

EXIT_FAILED: Final = 1
EXIT_NOTHING_TO_AUDIT: Final = 3
DEFAULT_GENERATED: Final = 10_000

console = Console()
if not console.is_terminal:  # a file or a pipe: wide enough for the tables
    console = Console(width=120)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = command_parser("python -m credit_risk.model.audit", __doc__)
    parser.add_argument(
        "--model", default=DEFAULT_MODEL_TAG, help="model store tag (default: latest)"
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path("data"),
        help="where CreditScoring.csv is, as for train.py (default: data)",
    )
    parser.add_argument(
        "--data-rows", type=int, help="audit only the first rows of the data (default: all)"
    )
    parser.add_argument(
        "--generated",
        type=int,
        default=DEFAULT_GENERATED,
        help=f"generated applications to audit too (default: {DEFAULT_GENERATED:,})",
    )
    parser.add_argument("--seed", type=int, default=0, help="generator seed (default: 0)")
    parser.add_argument(
        "--protected",
        default=DEFAULT_PROTECTED_FIELD,
        choices=APPLICATION_FIELDS,
        help=f"field that must never be a reason (default: {DEFAULT_PROTECTED_FIELD})",
    )
    parser.add_argument("--json", type=Path, help="write the report as JSON there")
    parser.add_argument("--threads", type=int, default=1, help="XGBoost threads (default: 1)")
    args = parser.parse_args(argv)
    if (
        args.generated < 0
        or args.threads < 1
        or (args.data_rows is not None and args.data_rows < 1)
    ):
        parser.error("--generated must be 0 or more, --data-rows and --threads 1 or more")
    return args


def _points(probability: float) -> str:
    return f"{100 * probability:+.1f}"


def _table(title: str, columns: tuple[str, ...], rows: list[list[str]]) -> Table:
    table = Table(title=title)
    for column in columns:
        table.add_column(column, justify="left" if column in ("population", "field") else "right")
    for row in rows:
        table.add_row(*row)
    return table


def _tables(report: AuditReport) -> list[Table]:
    populations = report.populations
    directions = [(p.name, audit) for p in populations for audit in p.directions]
    if report.income_sweep is not None:
        directions.append(("sweep", report.income_sweep))
    return [
        _table(
            "A protected field among the principal reasons",
            ("population", "field", "applications", "citing", "share", "max contribution"),
            [
                [
                    p.name,
                    p.protected.field,
                    f"{p.protected.rows:,}",
                    f"{p.protected.citing:,}",
                    f"{p.protected.citing / max(p.protected.rows, 1):.1%}",
                    f"{p.protected.max_contribution:+.2f}",
                ]
                for p in populations
            ],
        ),
        _table(
            "Regulation B's elderly rule: applicants aged 62+, every age 18-61 tried",
            (
                "population",
                "aged 62+",
                "age raises risk",
                "max contribution",
                "age a reason",
                "lower if younger",
                "max decrease",
            ),
            [
                [
                    p.name,
                    f"{p.elderly.rows:,}",
                    f"{p.elderly.risk_raising_age:,}",
                    f"{p.elderly.max_age_contribution:+.2f}",
                    f"{p.elderly.age_among_reasons:,}",
                    f"{p.elderly.lower_when_younger:,}",
                    _points(p.elderly.max_decrease),
                ]
                for p in populations
            ],
        ),
        _table(
            "Field directions, proven per application: rises of the default probability "
            "(points) between two values in the wrong order",
            ("population", "field", "dir", "violating", "median", "max", "worse decision"),
            [
                [
                    name,
                    audit.field,
                    f"{audit.direction:+d}",
                    f"{audit.violating:,}/{audit.rows:,}",
                    _points(audit.median_increase),
                    _points(audit.max_increase),
                    f"{audit.worse_decision:,}",
                ]
                for name, audit in directions
            ],
        ),
        _table(
            "The same against each application's own value: a higher probability at a "
            "safer value than its own",
            ("population", "field", "applications", "median", "max", "worse decision", "pieces"),
            [
                [
                    name,
                    audit.field,
                    f"{audit.own_violating:,}",
                    _points(audit.own_median_increase),
                    _points(audit.own_max_increase),
                    f"{audit.own_worse_decision:,}",
                    f"{audit.pieces:,}",
                ]
                for name, audit in directions
            ],
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    """Run the audits; returns the exit code."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    started = time.perf_counter()
    import bentoml

    from credit_risk.generator import ApplicationGenerator
    from credit_risk.model.store import IncompatibleModelError, load_from_store
    from credit_risk.training.data import DataError, obtain_dataset

    try:
        served = load_from_store(bentoml.models.get(args.model), nthread=args.threads)
    except bentoml.exceptions.NotFound:
        console.print(f"Model {args.model} is not in the model store (BENTOML_HOME).")
        return EXIT_NOTHING_TO_AUDIT
    except IncompatibleModelError as error:
        console.print(str(error))
        return EXIT_NOTHING_TO_AUDIT
    try:
        dataset = obtain_dataset(args.data_dir)
    except DataError as error:
        console.print(f"No data to audit: {error}")
        return EXIT_NOTHING_TO_AUDIT
    frame = dataset.frame if args.data_rows is None else dataset.frame.iloc[: args.data_rows]
    data = Applications.from_columns(frame)
    populations = {"data": data}
    if args.generated:
        drawn = ApplicationGenerator(served.metadata.reference, seed=args.seed)
        populations["generated"] = Applications.from_columns(drawn.draw_columns(args.generated))
    report = AuditReport(
        model_tag=served.tag,
        populations=[
            audit_population(name, applications, served, protected_field=args.protected)
            for name, applications in populations.items()
        ],
        income_sweep=income_sweep(data, served),
        sources={
            "data": f"{len(frame)} rows of {dataset.path} ({dataset.source}, "
            f"sha256 {dataset.sha256})",
            "generated": f"{args.generated} applications, seed {args.seed}, from the "
            "model's reference",
        },
        seconds=time.perf_counter() - started,
    )
    console.print(f"Audit of {report.model_tag}")
    for name, source in report.sources.items():
        console.print(f"  {name}: {source}")
    if report.income_sweep is not None:
        console.print(
            f"  sweep: the first {report.income_sweep.rows} data rows, income "
            f"{SWEEP_DOMAIN.low:g} to {SWEEP_DOMAIN.high:g}"
        )
    for table in _tables(report):
        console.print(table)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report.to_json(), indent=2) + "\n")
    failures = report.failures()
    for line in failures:
        console.print(f"FAILS {line}")
    console.print(
        f"{'FAILED' if failures else 'PASSED'}: {len(failures)} properties fail; "
        f"{report.seconds:.0f} s" + (f"; JSON: {args.json}" if args.json else "")
    )
    return EXIT_FAILED if failures else 0


if __name__ == "__main__":
    sys.exit(main())
