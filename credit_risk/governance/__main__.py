"""python -m credit_risk.governance: what decides, and the release built from it.

    python -m credit_risk.governance show
    python -m credit_risk.governance name --champion credit_risk_model:abc
                                          [--challenger credit_risk_model:def | --no-challenger]
    python -m credit_risk.governance build [-f bentofile.yaml]

``show`` prints the release (the champion and challenger tags, and the file);
``name`` writes it, with exact versions (``latest`` is resolved now, once);
``build`` builds the bento of the release, its models aliased ``champion`` and
``challenger``, and prints its tag.

Exit code: 0 done, 3 no such model, 4 bad usage.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Final

import bentoml
from rich.console import Console

from credit_risk.commands import command_parser
from credit_risk.governance.bento import build_release
from credit_risk.model.release import (
    NoChampionError,
    Release,
    exact_tag,
    read_release,
    release_path,
    resolve,
    write_release,
)
from credit_risk.settings import load_settings

EXIT_NO_MODEL: Final = 3
console = Console(highlight=False, soft_wrap=True)
ROOT: Final = Path(__file__).resolve().parents[2]
"""The repository root: the build context of a release's bento."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = command_parser("python -m credit_risk.governance", __doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("show", help="print the release")
    name = commands.add_parser("name", help="write the release: champion and challenger")
    name.add_argument("--champion", help="the model that decides (default: unchanged)")
    challenger = name.add_mutually_exclusive_group()
    challenger.add_argument("--challenger", help="the model scored in its shadow")
    challenger.add_argument("--no-challenger", action="store_true", help="no challenger")
    build = commands.add_parser("build", help="build the release's bento, print its tag")
    build.add_argument("-f", "--bentofile", type=Path, default=ROOT / "bentofile.yaml")
    return parser.parse_args(argv)


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


def _line(release: Release, path: Path) -> str:
    return f"champion {release.champion}, challenger {release.challenger or '-'}: {path}"


def main(argv: list[str] | None = None) -> int:
    """Run the command; the exit code."""
    args = parse_args(argv)
    settings = load_settings()
    path = release_path(settings.release_file)
    try:
        if args.command == "name":
            named = _name(args, path)
            console.print(_line(named, path))
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
