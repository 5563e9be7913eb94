"""python -m credit_risk.outcomes: outcomes in, and the back-test of the decisions.

    python -m credit_risk.outcomes load FILE... [--monitoring-dir monitoring]
    python -m credit_risk.outcomes report [--monitoring-dir monitoring] [-o reports/outcomes]
    python -m credit_risk.outcomes simulate -o outcomes.csv [--risk-factor 1.0] [--seed 0]

``load`` joins outcome files (CSV or Parquet: decision_id, defaulted 0/1, observed_at)
to the decision records and stores them in <monitoring-dir>/outcomes/outcomes.duckdb.
Exit code: 0 loaded, 1 loaded but with conflicting or unknown ids (listed), 4 bad
usage or a file that is not an outcome file (nothing of it stored).

``report`` writes outcomes.html and outcomes.json. Exit code: 0 sound, 1 watch,
2 act, 3 nothing to compare (no decisions with outcomes, or only one kind), 4 bad usage.

``simulate`` draws outcomes for the recorded decisions from a stated true risk: the
model's own probability times --risk-factor (credit_risk.generator.draw_outcomes).
"""

from __future__ import annotations

import argparse
import csv
import logging
import sys
import tempfile
from pathlib import Path
from typing import Final

from credit_risk.commands import EXIT_USAGE, CommandParser, command_parser
from credit_risk.outcomes.backtest import Outcomes, Thresholds, backtest
from credit_risk.outcomes.html import write_report
from credit_risk.outcomes.join import JOINED, create_decisions
from credit_risk.outcomes.store import (
    LISTED,
    OutcomeFileError,
    connect,
    database_path,
    load_outcomes,
)

EXIT_NOTHING_TO_COMPARE: Final = 3
OBSERVED_AFTER_DAYS: Final = 365
"""``simulate``: an outcome is observed this long after its decision."""

log = logging.getLogger("credit_risk.outcomes")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = command_parser("python -m credit_risk.outcomes", __doc__)
    parser.add_argument("--monitoring-dir", type=Path, default=Path("monitoring"))
    parser.add_argument(
        "--records", type=Path, help="decision records (default: the monitoring dir)"
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=CommandParser)
    load = commands.add_parser("load", help="store outcome files")
    load.add_argument("files", type=Path, nargs="+")
    report = commands.add_parser("report", help="the back-test report")
    report.add_argument("-o", "--output", type=Path, default=Path("reports/outcomes"))
    defaults = Thresholds()
    for name, kind in (
        ("auc_watch", float),
        ("auc_act", float),
        ("band_watch", float),
        ("band_act", float),
        ("min_band", int),
        ("hl_watch", float),
    ):
        report.add_argument(
            f"--{name.replace('_', '-')}",
            type=kind,
            default=getattr(defaults, name),
            help=f"default: {getattr(defaults, name)}",
        )
    simulate = commands.add_parser("simulate", help="draw outcomes for the recorded decisions")
    simulate.add_argument("-o", "--output", type=Path, required=True, help="*.csv or *.parquet")
    simulate.add_argument("--risk-factor", type=float, default=1.0)
    simulate.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def _load(args: argparse.Namespace, records: Path) -> int:
    code = 0
    with connect(args.monitoring_dir) as connection:
        scan = create_decisions(connection, records)
        log.warning("%d decisions in %d record files under %s", scan.decisions, scan.files, records)
        for path in args.files:
            try:
                result = load_outcomes(connection, path, "SELECT decision_id FROM decisions")
            except OutcomeFileError as error:
                log.error("%s (nothing of it stored)", error)
                return EXIT_USAGE
            log.warning(
                "%s: %d rows, %d new, %d already known, %d invalid, %d conflicts, %d unknown ids",
                path,
                result.rows,
                result.new,
                result.already_known,
                result.invalid,
                len(result.conflicts),
                len(result.unknown),
            )
            for decision_id, stored, offered in result.conflicts[:LISTED]:
                log.warning(
                    "conflict: %s stored %s, offered %s (kept the stored one)",
                    decision_id,
                    "the file's other row" if stored is None else int(stored),
                    int(offered),
                )
            if result.unknown:
                shown = ", ".join(result.unknown[:LISTED])
                log.warning("unknown ids (no decision record): %s", shown)
            if result.conflicts or result.unknown:
                code = 1
    return code


def _report(args: argparse.Namespace, records: Path) -> int:
    if not database_path(args.monitoring_dir).exists():
        log.error("No outcomes loaded under %s (run the load command first)", args.monitoring_dir)
        return EXIT_NOTHING_TO_COMPARE
    with connect(args.monitoring_dir) as connection:
        scan = create_decisions(connection, records)
        columns = connection.execute(JOINED).fetchnumpy()
        outcomes = Outcomes.of(columns)
        stored, unknown, conflicts = connection.execute(
            """SELECT (SELECT count(*) FROM outcomes),
                      (SELECT count(*) FROM outcomes ANTI JOIN decisions USING (decision_id)),
                      (SELECT count(DISTINCT decision_id) FROM conflicts)"""
        ).fetchone() or (0, 0, 0)
    defaults = int(outcomes.defaulted.sum())
    if defaults in (0, outcomes.size):
        log.error(
            "Nothing to compare: %d decisions with an outcome (%d defaulted) of %d recorded "
            "under %s and %d outcomes stored",
            outcomes.size,
            defaults,
            scan.decisions,
            records,
            stored,
        )
        return EXIT_NOTHING_TO_COMPARE
    thresholds = Thresholds(
        **{name: getattr(args, name) for name in Thresholds.__dataclass_fields__}
    )
    counts = {
        **scan.as_dict(),
        "outcomes": stored,
        "joined": outcomes.size,
        "unknown": unknown,
        "conflicts": conflicts,
    }
    report = backtest(outcomes, thresholds, counts)
    write_report(report, args.output)
    overall = report.overall.discrimination
    log.warning(
        "%d decisions with outcomes: AUC %.3f [%.3f, %.3f], KS %.3f; verdict %s%s. Report: %s",
        overall.n,
        overall.auc,
        *overall.auc_interval,
        overall.ks,
        report.verdict,
        "".join(f"\n  {reason}" for reason in report.reasons()),
        args.output / "outcomes.html",
    )
    return int(report.verdict)


def _simulate(args: argparse.Namespace, records: Path) -> int:
    import duckdb

    # The generator brings the model store's types: only this command needs them.
    from credit_risk.generator import draw_outcomes

    with duckdb.connect() as connection:
        connection.execute("SET TimeZone = 'UTC'")
        create_decisions(connection, records)
        ids, probabilities, observed = (
            connection.execute(
                f"""SELECT decision_id, default_probability,
                   strftime(time + INTERVAL {OBSERVED_AFTER_DAYS} DAY, '%Y-%m-%dT%H:%M:%SZ')
                FROM decisions ORDER BY default_probability, decision_id"""
            )
            .fetchnumpy()
            .values()
        )
        # In order of probability, not of id (ids are random): the same decisions and
        # seed give the same probability-outcome pairs, so the same report, on every run.
        outcomes = draw_outcomes(probabilities, risk_factor=args.risk_factor, seed=args.seed)
        args.output.parent.mkdir(parents=True, exist_ok=True)
        parquet = args.output.suffix.lower() in (".parquet", ".pq")
        with tempfile.TemporaryDirectory() as folder:
            text = Path(folder) / "outcomes.csv" if parquet else args.output
            with text.open("w", newline="") as stream:
                writer = csv.writer(stream)
                writer.writerow(["decision_id", "defaulted", "observed_at"])
                writer.writerows(zip(ids, outcomes.tolist(), observed, strict=True))
            if parquet:
                source = str(text).replace("'", "''")
                target = str(args.output).replace("'", "''")
                connection.execute(
                    f"COPY (SELECT * FROM read_csv('{source}', header = true)) "
                    f"TO '{target}' (FORMAT parquet)"
                )
    log.warning("%d outcomes drawn (risk x %s) to %s", len(ids), args.risk_factor, args.output)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the command; returns the exit code."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    records = args.records if args.records is not None else args.monitoring_dir
    command = {"load": _load, "report": _report, "simulate": _simulate}[args.command]
    return command(args, records)


if __name__ == "__main__":
    sys.exit(main())
