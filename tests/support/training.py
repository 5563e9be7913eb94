"""``train.py`` and ``python -m credit_risk.governance`` run for real, as a user runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.servers import ROOT


def run_train(
    tmp_root: Path, data_file: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``train.py`` for real on ``data_file``'s folder, in the temporary store (or the
    ``BENTOML_HOME`` that ``env`` names); asserts it succeeds."""
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "train.py"),
            "--data-dir",
            str(data_file.parent),
            "--reports-dir",
            str(tmp_root / "reports"),
            *args,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**os.environ, "COLUMNS": "120", **(env or {})},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def run_governance(
    *args: str, env: dict[str, str] | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m credit_risk.governance`` as an operator does; with ``check``,
    asserts it exits 0."""
    result = subprocess.run(
        [sys.executable, "-m", "credit_risk.governance", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )
    assert not check or result.returncode == 0, result.stdout + result.stderr
    return result
