"""What the report commands share (``python -m credit_risk.drift``, ``.outcomes``,
``.model.audit``): their exit codes 0 to 3 are verdicts a scheduler acts on, so a usage
error exits 4, never argparse's 2 (which would read as "act")."""

from __future__ import annotations

import argparse
import sys
from typing import Final, NoReturn

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
