"""What a test run needs from the machine, and what it must show: skip here, fail under CI.

Off CI a missing prerequisite (Docker, root, a browser, Java) skips its tests with the
reason; under ``CI=true`` it fails them, so that CI never passes by skipping.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def in_ci() -> bool:
    """Whether this run is CI's, where a missing prerequisite is a failure, not a skip."""
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def unavailable(what: str, reason: str) -> NoReturn:
    """Skip for ``reason``; under CI, fail: "CI must run the WHAT, but REASON"."""
    if in_ci():
        pytest.fail(f"CI must run the {what}, but {reason}", pytrace=False)
    pytest.skip(reason)


def announce(config: pytest.Config, message: str) -> None:
    """Write a progress line to the terminal, past pytest's output capture.

    These lines are what the CI log must show of the container's life: built,
    ready, answering, stopped and removed.
    """
    capture = config.pluginmanager.getplugin("capturemanager")
    reporter = config.pluginmanager.getplugin("terminalreporter")
    with capture.global_and_fixture_disabled():
        reporter.ensure_newline()
        for line in message.splitlines():
            # The deploy/container and scripts/ shell scripts tag their own lines: [engine], [base].
            reporter.write_line(line if line.startswith("[") else f"[container] {line}", bold=True)
