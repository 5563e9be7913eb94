"""The locustfile against a real server: it meets its SLO, and fails when the SLO is broken."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.servers import ROOT, Server


def _locust(server: Server, run_time: str, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(Path(sys.executable).parent / "locust"),
            "-f",
            str(ROOT / "locustfile.py"),
            "--headless",
            "-H",
            server.url,
            "-u",
            "16",
            "-r",
            "16",
            "-t",
            run_time,
            "--only-summary",
            *options,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_headless_run_meets_its_slo(server: Server) -> None:
    result = _locust(server, "15s", "--slo-p99-ms", "1000")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "SLO met" in output
    for name in ("/classify ", "/classify_batch", "/classify [invalid]"):
        assert name in output, name


def test_broken_slo_exits_non_zero(server: Server) -> None:
    result = _locust(server, "4s", "--slo-p99-ms", "0.01")
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "SLO broken: p99" in output
