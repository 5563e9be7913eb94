"""Reading decision records back: every complete line, and a count of what was skipped.

A process killed mid-write can leave at most a partial last line in a file
(the writer never writes anything else after a failed write to the same
file); a reader skips it and counts it, as every reader of the contract must.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from credit_risk.records.format import RECORD_SUFFIX, RECORDS_SUBDIR


@dataclass
class RecordsRead:
    """What a directory of records holds: the parsed records and the lines skipped."""

    records: list[dict[str, Any]] = field(default_factory=list)
    skipped: int = 0
    """Partial or unparsable lines (a crash's torn last line, or foreign text)."""
    files: int = 0


def record_files(monitoring_dir: str | Path) -> list[Path]:
    """The record files under ``<monitoring_dir>/decisions/``, oldest name first."""
    directory = Path(monitoring_dir) / RECORDS_SUBDIR
    if not directory.is_dir():
        return []
    return sorted(directory.glob(f"*{RECORD_SUFFIX}"))


def iter_lines(path: Path) -> Iterator[dict[str, Any] | None]:
    """Each line of one file parsed, or ``None`` for a line that is not a whole record."""
    with path.open("rb") as stream:
        for raw in stream:
            if not raw.endswith(b"\n"):
                yield None  # torn: the writer's last, unfinished line
                continue
            try:
                record = json.loads(raw)
            except ValueError:
                yield None
                continue
            yield record if isinstance(record, dict) and "decision_id" in record else None


def read_records(monitoring_dir: str | Path) -> RecordsRead:
    """Every whole record under ``<monitoring_dir>/decisions/``; torn or foreign lines counted."""
    result = RecordsRead()
    for path in record_files(monitoring_dir):
        result.files += 1
        for record in iter_lines(path):
            if record is None:
                result.skipped += 1
            else:
                result.records.append(record)
    return result
