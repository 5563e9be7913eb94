"""python -m credit_risk.governance: what decides, and the release built from it.

    python -m credit_risk.governance show
    python -m credit_risk.governance name --champion credit_risk_model:abc
                                          [--challenger credit_risk_model:def | --no-challenger]
    python -m credit_risk.governance build [-f bentofile.yaml]
    python -m credit_risk.governance swaps [--monitoring-dir monitoring/] [--records DIR]
                                           [--since TIME] [-o reports/swaps]
    python -m credit_risk.governance gate [--data-dir data] [--records DIR] [-o reports/gate]
    python -m credit_risk.governance promote --operator NAME --reason TEXT
                                             [--evidence reports/gate/gate.json] [--build]
    python -m credit_risk.governance rollback --operator NAME --reason TEXT [--build]

``show`` prints the release (the champion and challenger tags, and the file);
``name`` writes it, with exact versions (``latest`` is resolved now, once);
``build`` builds the bento of the release, its models aliased ``champion`` and
``challenger``, and prints its tag; ``swaps`` writes the swap-set report (``swaps.html``,
``swaps.json``) from the decision records that carry a challenger, with the default rate
per cell where outcomes are loaded (``python -m credit_risk.outcomes load``); ``gate``
compares the challenger with the champion and writes its verdict and evidence
(``gate.json``); ``promote`` makes the challenger the champion (and the champion its
challenger) when the gate's evidence says so, and ``rollback`` restores the release
before the last act: each writes its governance record in
``<monitoring-dir>/governance/acts.jsonl`` first, then the release file, and with
``--build`` builds the new release's bento.

Exit code: 0 done (``swaps``: under 5% of decisions swapped; ``gate``: promote), 1
(``swaps``) 5 to 15% swapped, (``gate``) refuse, (``promote``, ``rollback``) refused, 2
(``swaps``) more, 3 no such model, no challenger or no records with one, 4 bad usage.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Final

import bentoml
from rich.console import Console

from credit_risk.commands import CommandParser, command_parser, iso_time
from credit_risk.governance.bento import build_release
from credit_risk.governance.gate import BOOTSTRAP_RESAMPLES
from credit_risk.model.release import (
    NoChampionError,
    Release,
    exact_tag,
    read_release,
    release_path,
    resolve,
    write_release,
)
from credit_risk.records.reader import ReadStats, iter_records, record_files
from credit_risk.settings import load_settings

EXIT_REFUSED: Final = 1
EXIT_NO_MODEL: Final = 3
console = Console(highlight=False, soft_wrap=True)
ROOT: Final = Path(__file__).resolve().parents[2]
"""The repository root: the build context of a release's bento."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = command_parser("python -m credit_risk.governance", __doc__)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=CommandParser)
    commands.add_parser("show", help="print the release")
    name = commands.add_parser("name", help="write the release: champion and challenger")
    name.add_argument("--champion", help="the model that decides (default: unchanged)")
    challenger = name.add_mutually_exclusive_group()
    challenger.add_argument("--challenger", help="the model scored in its shadow")
    challenger.add_argument("--no-challenger", action="store_true", help="no challenger")
    build = commands.add_parser("build", help="build the release's bento, print its tag")
    build.add_argument("-f", "--bentofile", type=Path, default=ROOT / "bentofile.yaml")
    swaps = commands.add_parser("swaps", help="the swap-set report from the records")
    swaps.add_argument(
        "--monitoring-dir",
        type=Path,
        default=Path("monitoring"),
        help="where the outcomes database is (python -m credit_risk.outcomes load)",
    )
    swaps.add_argument(
        "--records", type=Path, help="decision records (default: the monitoring dir)"
    )
    swaps.add_argument("--since", type=iso_time, help="only records from this ISO time on")
    swaps.add_argument("-o", "--output", type=Path, default=Path("reports/swaps"))
    gate = commands.add_parser("gate", help="promote the challenger or not, with the evidence")
    gate.add_argument("--data-dir", type=Path, default=Path("data"), help="as for train.py")
    gate.add_argument("--records", type=Path, help="decision records with a challenger")
    gate.add_argument("--resamples", type=int, default=BOOTSTRAP_RESAMPLES)
    gate.add_argument("-o", "--output", type=Path, default=Path("reports/gate"))
    for act in ("promote", "rollback"):
        command = commands.add_parser(act, help=f"{act}, recorded")
        command.add_argument("--operator", required=True, help="who acts (recorded)")
        command.add_argument("--reason", required=True, help="why (recorded)")
        command.add_argument("--monitoring-dir", type=Path, default=Path("monitoring"))
        command.add_argument("--build", action="store_true", help="build the new release's bento")
        if act == "promote":
            command.add_argument(
                "--evidence", type=Path, default=Path("reports/gate/gate.json"), help="gate.json"
            )
    return parser.parse_args(argv)


def _outcomes(monitoring_dir: Path) -> dict[str, bool] | None:
    """The outcomes loaded in the monitoring dir, by decision id; None without any."""
    from credit_risk.outcomes.store import connect, database_path

    if not database_path(monitoring_dir).is_file():
        return None
    with connect(monitoring_dir, read_only=True) as connection:
        rows = connection.execute("SELECT decision_id, defaulted FROM outcomes").fetchall()
    return {decision_id: bool(defaulted) for decision_id, defaulted in rows}


def _swaps(args: argparse.Namespace) -> int:
    from credit_risk.governance import swaps, swaps_html

    records = args.records or args.monitoring_dir
    stats = ReadStats()
    report = swaps.measure(
        iter_records(record_files(records), stats, since=args.since),
        _outcomes(args.monitoring_dir),
    )
    if report is None:
        Console(stderr=True).print(
            f"No decision records with a scored challenger under {records} "
            f"({stats.files} files, {stats.lines} lines): name one with "
            "`python -m credit_risk.governance name --challenger TAG` and restart."
        )
        return EXIT_NO_MODEL
    args.output.mkdir(parents=True, exist_ok=True)
    swaps_html.write_json(report, args.output / "swaps.json")
    swaps_html.write_html(report, args.output / "swaps.html", swaps.generated_at())
    champion_rate, challenger_rate = report.approval_rates
    console.print(
        f"{report.decisions} decisions of {report.champion} shadowed by {report.challenger}: "
        f"approval {champion_rate:.1%} -> {challenger_rate:.1%}, swap-in {report.swap_in}, "
        f"swap-out {report.swap_out} ({report.verdict.name.lower()}). "
        f"Report: {args.output / 'swaps.html'}"
    )
    return int(report.verdict)


def _name(args: argparse.Namespace, path: Path) -> Release:
    current = read_release(path)
    champion = args.champion or (current.champion if current is not None else None)
    if champion is None:
        raise NoChampionError("no release yet: name its --champion")
    challenger = None if args.no_challenger else args.challenger
    if challenger is None and not args.no_challenger and current is not None:
        challenger = current.challenger
    named = Release(exact_tag(champion), exact_tag(challenger) if challenger is not None else None)
    write_release(path, named)
    return named


def _gate(args: argparse.Namespace, release: Release) -> int:
    from credit_risk.governance.evidence import gather

    if release.challenger is None:
        Console(stderr=True).print("No challenger in the release: nothing to compare.")
        return EXIT_NO_MODEL
    stats = ReadStats()
    records = iter_records(record_files(args.records), stats) if args.records is not None else None
    report = gather(release, args.data_dir, records, resamples=args.resamples)
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "gate.json").write_text(json.dumps(report.as_dict(), indent=2) + "\n")
    auc = report.auc
    console.print(
        f"AUC on {report.rows} held-out rows: champion {auc.champion:.4f}, challenger "
        f"{auc.challenger:.4f}, difference {auc.difference:+.4f} (95% {auc.difference_low:+.4f} "
        f"to {auc.difference_high:+.4f})"
    )
    for reason in report.reasons:
        console.print(f"REFUSE {reason}")
    console.print(
        f"{'PROMOTE' if report.promote else 'REFUSE'} {report.challenger} over "
        f"{report.champion}; evidence: {args.output / 'gate.json'}"
    )
    return 0 if report.promote else EXIT_REFUSED


def _act(args: argparse.Namespace, release: Release, path: Path) -> int:
    from credit_risk.governance import acts

    try:
        if args.command == "promote":
            evidence = json.loads(args.evidence.read_text(encoding="utf-8"))
            done = acts.promote(
                release,
                release_file=path,
                monitoring_dir=args.monitoring_dir,
                operator=args.operator,
                reason=args.reason,
                evidence=evidence,
            )
        else:
            done = acts.rollback(
                release,
                release_file=path,
                monitoring_dir=args.monitoring_dir,
                operator=args.operator,
                reason=args.reason,
            )
    except (acts.ActRefusedError, OSError, ValueError) as refused:
        Console(stderr=True).print(f"{args.command} refused: {refused}")
        return EXIT_REFUSED
    console.print(
        f"{done.act}: {_line(done.after, path)}; recorded in "
        f"{acts.acts_path(args.monitoring_dir)}. Restart (or roll out the bento) to serve it."
    )
    if args.build:
        console.print(build_release(ROOT / "bentofile.yaml", done.after, ROOT))
    return 0


def _line(release: Release, path: Path) -> str:
    return f"champion {release.champion}, challenger {release.challenger or '-'}: {path}"


def main(argv: list[str] | None = None) -> int:
    """Run the command; the exit code."""
    args = parse_args(argv)
    if args.command == "swaps":
        return _swaps(args)
    settings = load_settings()
    path = release_path(settings.release_file)
    try:
        if args.command == "name":
            named = _name(args, path)
            console.print(_line(named, path))
        elif args.command in ("gate", "promote", "rollback"):
            # An act changes the release file: it starts from that file, never from a
            # one-run override (CREDIT_RISK_MODEL_TAG, CREDIT_RISK_CHALLENGER_TAG).
            current = resolve(release_file=settings.release_file)
            if args.command == "gate":
                return _gate(args, current)
            return _act(args, current, path)
        elif args.command == "show":
            shown = resolve(
                champion=settings.model_tag,
                challenger=settings.challenger_tag,
                release_file=settings.release_file,
            )
            console.print(_line(shown, path))
        else:
            shown = resolve(
                champion=settings.model_tag,
                challenger=settings.challenger_tag,
                release_file=settings.release_file,
            )
            console.print(build_release(args.bentofile.resolve(), shown, ROOT))
    except (NoChampionError, bentoml.exceptions.NotFound) as missing:
        Console(stderr=True).print(f"error: {missing}")
        return EXIT_NO_MODEL
    return 0


if __name__ == "__main__":
    sys.exit(main())
