"""Reading decision records (JSON Lines) for the drift report.

Records are one JSON object per ``\\n``-terminated line, in any number of
``*.jsonl`` files under a folder (one per worker, per day, ...; see the decision
record format in docs). Reading is forgiving and accounts for everything it
skips: a partial line (the last one of a file being written, or a truncated
file), an unparsable one, a record of another model, a record older than
``since``.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from credit_risk.vocabulary import APPLICATION_FIELDS, CATEGORICAL_FIELDS

RECORD_GLOB: Final = "**/*.jsonl"


@dataclass
class ReadStats:
    """What was read, used and skipped, and why."""

    files: int = 0
    lines: int = 0
    used: int = 0
    partial: int = 0
    """Lines without their terminating newline: cut off mid-write or truncated."""
    unreadable: int = 0
    """Lines that are not JSON, not an object, or lack a field the report needs."""
    before_since: int = 0
    other_models: Counter[str] = field(default_factory=Counter)
    """Records of other model tags, by tag."""
    first_time: dt.datetime | None = None
    last_time: dt.datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready figures."""
        return {
            "files": self.files,
            "lines": self.lines,
            "used": self.used,
            "partial": self.partial,
            "unreadable": self.unreadable,
            "before_since": self.before_since,
            "other_models": dict(self.other_models.most_common()),
            "first_time": _iso(self.first_time),
            "last_time": _iso(self.last_time),
        }


def _iso(moment: dt.datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class DecisionRecord:
    """The parts of a decision record that drift is measured on."""

    time: dt.datetime
    model_tag: str
    application: dict[str, Any]
    default_probability: float


def parse_time(text: str) -> dt.datetime:
    """An ISO 8601 time as an aware UTC datetime; a time without zone is taken as UTC."""
    moment = dt.datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)


def record_files(root: Path) -> list[Path]:
    """Every record file under ``root`` (or ``root`` itself if it is a file), sorted."""
    if root.is_file():
        return [root]
    return sorted(path for path in root.glob(RECORD_GLOB) if path.is_file())


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _valid_application(application: Any) -> bool:
    if not isinstance(application, dict):
        return False
    for name in APPLICATION_FIELDS:
        if name not in application:
            return False
        value = application[name]
        if name in CATEGORICAL_FIELDS:
            if not isinstance(value, str):
                return False
        elif value is not None and not _is_number(value):
            return False
    return True


def _parse(line: bytes) -> DecisionRecord | None:
    try:
        record = json.loads(line)
        probability = record["default_probability"]
        if not (
            isinstance(record["model_tag"], str)
            and _is_number(probability)
            and _valid_application(record["application"])
        ):
            return None
        return DecisionRecord(
            parse_time(record["time"]),
            record["model_tag"],
            record["application"],
            float(probability),
        )
    except (ValueError, TypeError, KeyError):  # json.JSONDecodeError is a ValueError
        return None


def read_records(
    root: Path, *, model_tag: str, since: dt.datetime | None = None, stats: ReadStats
) -> Iterator[DecisionRecord]:
    """The records of ``model_tag`` under ``root`` from ``since`` on, counting into ``stats``."""
    for path in record_files(root):
        stats.files += 1
        with path.open("rb") as file:
            for line in file:
                stats.lines += 1
                if not line.endswith(b"\n"):
                    stats.partial += 1
                    continue
                record = _parse(line)
                if record is None:
                    stats.unreadable += 1
                elif record.model_tag != model_tag:
                    stats.other_models[record.model_tag] += 1
                elif since is not None and record.time < since:
                    stats.before_since += 1
                else:
                    stats.used += 1
                    if stats.first_time is None or record.time < stats.first_time:
                        stats.first_time = record.time
                    if stats.last_time is None or record.time > stats.last_time:
                        stats.last_time = record.time
                    yield record
