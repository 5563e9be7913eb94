"""What the report commands share (``python -m credit_risk.drift``, ``.outcomes``,
``.model.audit``): their exit codes 0 to 3 are verdicts a scheduler acts on, so a usage
error exits 4, never argparse's 2 (which would read as "act")."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path
from typing import Final, NoReturn

from credit_risk.records.reader import RECORD_GLOBS, parse_time

EXIT_USAGE: Final = 4
"""A command line that cannot be run: a missing or malformed option."""


class CommandParser(argparse.ArgumentParser):
    """``argparse``'s parser, exiting ``EXIT_USAGE`` on a usage error."""

    def error(self, message: str) -> NoReturn:
        """Print the usage and the error, then exit ``EXIT_USAGE``."""
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def command_parser(prog: str, description: str | None) -> CommandParser:
    """A report command's parser: ``prog`` as the operator types it, the module's
    docstring as its description, kept as written."""
    return CommandParser(
        prog=prog,
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def iso_time(text: str) -> dt.datetime:
    """An ``argparse`` type: an ISO 8601 time (``2026-12-01T00:00Z``), as records write it."""
    try:
        return parse_time(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from error


def add_records_options(parser: argparse.ArgumentParser) -> None:
    """``--records`` (where the decision records are) and ``--since`` (from when), as
    every command over the records takes them."""
    parser.add_argument(
        "--records",
        type=Path,
        default=Path("monitoring"),
        help=f"folder searched for {' and '.join(RECORD_GLOBS)} decision records "
        "(default: monitoring)",
    )
    parser.add_argument("--since", type=iso_time, help="only records from this ISO time on")
