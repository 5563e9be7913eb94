"""Reading decision records back: the one reader, for the tests, the drift report and the
rollback script (``deploy/kubernetes/models_in_records.py``).

Which files (``record_files``): a file is read as it is; a folder, every ``*.jsonl``
and ``*.parquet`` (batch runs' columnar records, ``credit_risk.batch.records``) under
it at any depth. So one pod's ``CREDIT_RISK_MONITORING_DIR``
(``decisions/*.jsonl``), a volume of pod folders (``<pod>/decisions/*.jsonl``) and
copies gathered by day or by host all read the same way. Files are read in path order.

Which lines (``iter_records``): a record is a ``\\n``-terminated line holding a JSON
object with a ``decision_id``, whose ``model_tag``, if any, is a string and whose
``time``, if any, is ISO 8601. A line without its newline is *partial*: a process
killed mid-write leaves at most one, the last of its file (the writer never writes
after a failed write to the same file), and a truncated copy ends with one. Any other
line that is not a record is *unreadable* (foreign text, another format, or a record
lacking a field the caller needs). Both are skipped and counted, never fatal.
A Parquet file's rows are read as the same records (the same dicts as their JSON
lines), each counted as a line; a file without its Parquet footer (a truncated copy:
the writer renames a file into place only once it is whole) is one partial line, a
file that is not Parquet at all one unreadable line.
A record whose ``decision_id`` was read before is a *duplicate* (a retried Spark task,
or ``score.py`` run again with its ``--run-id``, writes its records again under the
same ids): the first is kept, the others counted. ``ReadStats`` says what was read,
used and skipped, and why.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from credit_risk.records.format import COLUMNAR_SUFFIX, RECORD_SUFFIX

RECORD_GLOB: Final = f"**/*{RECORD_SUFFIX}"
"""The JSON record files under a folder, at any depth."""

RECORD_GLOBS: Final = (RECORD_GLOB, f"**/*{COLUMNAR_SUFFIX}")
"""Every record file under a folder: JSON lines, and batch runs' Parquet files."""

PARQUET_MAGIC: Final = b"PAR1"
"""A whole Parquet file ends with its footer and these four bytes."""

PARQUET_BATCH_ROWS: Final = 8192
"""Rows of a Parquet file turned into dicts at a time: memory stays flat."""


@dataclass
class ReadStats:
    """What was read, used and skipped, and why."""

    files: int = 0
    lines: int = 0
    used: int = 0
    partial: int = 0
    """Lines without their terminating newline: cut off mid-write or truncated."""
    unreadable: int = 0
    """Lines that are not JSON, not a record, or lack a field the reading needs."""
    before_since: int = 0
    duplicates: int = 0
    """Records of a decision already read (the same ``decision_id``): the first is kept."""
    other_models: Counter[str] = field(default_factory=Counter)
    """Records of other model tags, by tag."""
    first_time: dt.datetime | None = None
    last_time: dt.datetime | None = None
    """The time range of the records used (of those with a ``time``)."""

    @property
    def skipped(self) -> int:
        """Lines that were not records: partial or unreadable."""
        return self.partial + self.unreadable

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready figures."""
        return {
            "files": self.files,
            "lines": self.lines,
            "used": self.used,
            "partial": self.partial,
            "unreadable": self.unreadable,
            "before_since": self.before_since,
            "duplicates": self.duplicates,
            "other_models": dict(self.other_models.most_common()),
            "first_time": _iso(self.first_time),
            "last_time": _iso(self.last_time),
        }

    def count_used(self, time: dt.datetime | None) -> None:
        """Count a record used, and widen the time range to its ``time``."""
        self.used += 1
        if time is not None:
            if self.first_time is None or time < self.first_time:
                self.first_time = time
            if self.last_time is None or time > self.last_time:
                self.last_time = time


def _iso(moment: dt.datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def parse_time(text: str) -> dt.datetime:
    """An ISO 8601 time as an aware UTC datetime; a time without zone is taken as UTC."""
    moment = dt.datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)


def record_files(path: str | Path) -> list[Path]:
    """The record files at ``path``: itself if it is a file, else every ``*.jsonl`` and
    ``*.parquet`` under it at any depth, sorted (none if it does not exist)."""
    root = Path(path)
    if root.is_file():
        return [root]
    return sorted(
        found for pattern in RECORD_GLOBS for found in root.glob(pattern) if found.is_file()
    )


def is_columnar(path: Path) -> bool:
    """Whether ``path`` holds columnar records (Parquet), by its name."""
    return path.name.endswith(COLUMNAR_SUFFIX)


def whole_parquet(path: Path) -> bool:
    """Whether ``path`` ends as a whole Parquet file does (a torn copy does not)."""
    try:
        with path.open("rb") as stream:
            stream.seek(0, 2)
            if stream.tell() < 2 * len(PARQUET_MAGIC):
                return False
            stream.seek(-len(PARQUET_MAGIC), 2)
            return stream.read() == PARQUET_MAGIC
    except OSError:
        return False


def _columnar_rows(path: Path, stats: ReadStats) -> Iterator[dict[str, Any] | None]:
    """A Parquet file's records as dicts (None for one that is no record), counting lines."""
    if not whole_parquet(path):
        stats.lines += 1
        stats.partial += 1
        return
    import pyarrow as pa  # only for columnar records: the service reads none
    import pyarrow.parquet as pq

    try:
        batches = pq.ParquetFile(path).iter_batches(batch_size=PARQUET_BATCH_ROWS)
        for batch in batches:
            yield from batch.to_pylist()
    except (OSError, pa.ArrowException):
        stats.lines += 1
        stats.unreadable += 1


def _lines(path: Path, stats: ReadStats) -> Iterator[dict[str, Any] | None]:
    """A JSON file's whole lines as dicts (None for one that is no JSON object)."""
    with path.open("rb") as stream:
        for line in stream:
            if not line.endswith(b"\n"):
                stats.lines += 1
                stats.partial += 1
                continue
            try:
                record = json.loads(line)
            except ValueError:  # not JSON, or not UTF-8
                record = None
            yield record if isinstance(record, dict) else None


def iter_records(
    files: Iterable[Path],
    stats: ReadStats,
    *,
    model_tag: str | None = None,
    since: dt.datetime | None = None,
    usable: Callable[[dict[str, Any]], bool] | None = None,
) -> Iterator[dict[str, Any]]:
    """The records in ``files``, in order, counting everything into ``stats``.

    Args:
        files: what ``record_files`` found.
        stats: counts what was read, used and skipped.
        model_tag: only this model's records; the others are counted by tag (a record
            without a ``model_tag`` is then unreadable).
        since: only records from this time on; earlier ones are counted (a record
            without a ``time`` is then unreadable).
        usable: the caller's check of the fields it needs; a record failing it is
            unreadable, whichever model made it.

    Each decision once: a record whose ``decision_id`` was yielded before is counted in
    ``stats.duplicates``, not yielded (the ids seen are kept, about 100 bytes each).
    """
    seen: set[str] = set()
    for path in files:
        stats.files += 1
        rows = _columnar_rows(path, stats) if is_columnar(path) else _lines(path, stats)
        for row in rows:
            stats.lines += 1
            parsed = _checked(row)
            if parsed is None:
                stats.unreadable += 1
                continue
            record, time = parsed
            tag = record.get("model_tag")
            if (
                (usable is not None and not usable(record))
                or (model_tag is not None and tag is None)
                or (since is not None and time is None)
            ):
                stats.unreadable += 1
            elif model_tag is not None and tag != model_tag:
                stats.other_models[tag] += 1
            elif since is not None and time is not None and time < since:
                stats.before_since += 1
            elif (decision_id := str(record["decision_id"])) in seen:
                stats.duplicates += 1
            else:
                seen.add(decision_id)
                stats.count_used(time)
                yield record


def _checked(record: dict[str, Any] | None) -> tuple[dict[str, Any], dt.datetime | None] | None:
    """The record and its time, or ``None`` if it is no record."""
    if record is None or "decision_id" not in record:
        return None
    tag, text = record.get("model_tag"), record.get("time")
    if tag is not None and not isinstance(tag, str):
        return None
    if text is None:
        return record, None
    try:
        return record, parse_time(text)
    except (TypeError, ValueError):
        return None


@dataclass
class RecordsRead:
    """Every record at a path, and the counts of the reading."""

    records: list[dict[str, Any]] = field(default_factory=list)
    stats: ReadStats = field(default_factory=ReadStats)

    @property
    def skipped(self) -> int:
        """Partial or unreadable lines (a crash's torn last line, or foreign text)."""
        return self.stats.skipped


def read_records(path: str | Path) -> RecordsRead:
    """Every record at ``path`` (a monitoring dir, a volume of pod folders, a file),
    read at once; torn or foreign lines counted."""
    result = RecordsRead()
    result.records.extend(iter_records(record_files(path), result.stats))
    return result
