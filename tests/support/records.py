"""Decision records for the records tests: lines to write, a small disk to fill, and the
check that only a file's last line may be torn."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from credit_risk.records import record_files
from tests.support.ci import unavailable


def padded_line(decision_id: str, pad: int = 100) -> bytes:
    """A record line with ``decision_id``, padded to about ``pad`` more bytes."""
    return json.dumps({"decision_id": decision_id, "pad": "x" * pad}).encode() + b"\n"


def assert_only_last_lines_torn(monitoring_dir: Path) -> int:
    """Whole lines everywhere but, perhaps, at the very end of a file; returns the torn count."""
    torn = 0
    for path in record_files(monitoring_dir):
        lines = path.read_bytes().split(b"\n")
        for line in lines[:-1]:
            assert json.loads(line)["decision_id"], (path, line)
        torn += lines[-1] != b""
    return torn


@contextmanager
def small_tmpfs_at(mount_point: Path) -> Iterator[Path]:
    """A 256 KiB tmpfs mounted at ``mount_point`` (made here), unmounted at the end.

    Mounting needs root: CI runs as root; elsewhere the test skips (fails under CI).
    """
    if os.geteuid() != 0:
        unavailable("records tests", "mounting a size-limited tmpfs needs root")
    mount_point.mkdir()
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount_point)],
        check=True,
        capture_output=True,
        timeout=30,
    )
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False, timeout=30)
