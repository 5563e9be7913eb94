"""The one reader of decision records: which files, which lines, and what it counts."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from credit_risk.records import (
    ReadStats,
    decision_record,
    iter_records,
    read_records,
    record_files,
    record_line,
)
from credit_risk.schema import COURSE_EXAMPLE

GOOD = "credit_risk_model:good"
OTHER = "credit_risk_model:other"


def _record(
    decision_id: str, *, model_tag: str = GOOD, time: str = "2026-12-01T13:00:00Z"
) -> bytes:
    """A record as the writers write it, in the contract's format."""
    decision = {
        "decision_id": decision_id,
        "model_tag": model_tag,
        "policy_version": "course-v1",
        "status": "APPROVED",
        "default_probability": 0.1,
        "score": 700,
        "reasons": [],
        "out_of_training_range": [],
    }
    application = dict(COURSE_EXAMPLE)
    return record_line(
        decision_record(application, decision, endpoint="/classify", latency_ms=1.0, time=time)
    )


def _write(path: Path, *lines: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("ab") as file:
        file.writelines(lines)
    return path


def _ids(records: list[dict[str, Any]]) -> list[str]:
    return [record["decision_id"] for record in records]


def test_a_torn_last_line_is_skipped_and_counted_as_partial(tmp_path: Path) -> None:
    _write(tmp_path / "decisions" / "w.jsonl", _record("a"), _record("torn")[:40])
    read = read_records(tmp_path)
    assert _ids(read.records) == ["a"]
    assert (read.skipped, read.stats.partial, read.stats.unreadable) == (1, 1, 0)


def test_a_torn_line_is_partial_even_when_it_parses(tmp_path: Path) -> None:
    # A line cut just before its newline is still JSON: only the newline says it is whole.
    _write(tmp_path / "decisions" / "w.jsonl", _record("cut")[:-1])
    read = read_records(tmp_path)
    assert read.records == [] and read.stats.partial == 1


def test_foreign_lines_are_skipped_and_counted_as_unreadable(tmp_path: Path) -> None:
    foreign = [
        b"not json at all\n",
        b"[1, 2]\n",
        b'{"no": "decision_id"}\n',
        b'{"decision_id": "x", "model_tag": 7}\n',
        b'{"decision_id": "x", "time": "yesterday"}\n',
        b"\xff\xfe\n",
    ]
    _write(tmp_path / "decisions" / "w.jsonl", _record("a"), *foreign, _record("b"))
    read = read_records(tmp_path)
    assert _ids(read.records) == ["a", "b"]
    assert read.stats.as_dict() | {"first_time": None, "last_time": None} == {
        "files": 1,
        "lines": 8,
        "used": 2,
        "partial": 0,
        "unreadable": len(foreign),
        "before_since": 0,
        "duplicates": 0,
        "other_models": {},
        "first_time": None,
        "last_time": None,
    }
    assert read.skipped == len(foreign)


def test_a_monitoring_dir_and_a_volume_of_pod_folders_read_the_same(tmp_path: Path) -> None:
    monitoring = tmp_path / "pod-a"
    _write(monitoring / "decisions" / "h-1-20261201T130000Z-000001.jsonl", _record("a1"))
    _write(monitoring / "decisions" / "h-1-20261201T130000Z-000002.jsonl", _record("a2"))
    _write(tmp_path / "pod-b" / "decisions" / "h-2-20261201T130000Z-000001.jsonl", _record("b1"))
    (monitoring / "decisions" / "notes.txt").write_text("not a record file\n")
    assert _ids(read_records(monitoring).records) == ["a1", "a2"]
    assert _ids(read_records(tmp_path).records) == ["a1", "a2", "b1"]
    assert [path.parent.parent.name for path in record_files(tmp_path)] == [
        "pod-a",
        "pod-a",
        "pod-b",
    ]


def test_a_file_reads_as_itself_and_a_missing_path_as_nothing(tmp_path: Path) -> None:
    path = _write(tmp_path / "copy.jsonl", _record("a"))
    assert record_files(path) == [path]
    assert _ids(read_records(path).records) == ["a"]
    assert record_files(tmp_path / "missing") == []
    assert read_records(tmp_path / "missing").stats == ReadStats()


def test_one_model_since_a_time_counts_the_others_and_the_earlier(tmp_path: Path) -> None:
    _write(
        tmp_path / "decisions" / "w.jsonl",
        _record("old", time="2026-11-01T00:00:00Z"),
        _record("used-1", time="2026-12-01T13:00:00Z"),
        _record("other", model_tag=OTHER),
        _record("used-2", time="2026-12-01T14:30:00.123456Z"),
        b'{"decision_id": "no-tag", "time": "2026-12-01T13:00:00Z"}\n',
        b'{"decision_id": "no-time", "model_tag": "credit_risk_model:good"}\n',
    )
    stats = ReadStats()
    since = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    records = list(iter_records(record_files(tmp_path), stats, model_tag=GOOD, since=since))
    assert _ids(records) == ["used-1", "used-2"]
    assert stats.as_dict() == {
        "files": 1,
        "lines": 6,
        "used": 2,
        "partial": 0,
        "unreadable": 2,
        "before_since": 1,
        "duplicates": 0,
        "other_models": {OTHER: 1},
        "first_time": "2026-12-01T13:00:00Z",
        "last_time": "2026-12-01T14:30:00.123456Z",
    }


def test_the_callers_check_makes_a_record_unreadable_whichever_model_made_it(
    tmp_path: Path,
) -> None:
    _write(
        tmp_path / "w.jsonl",
        _record("kept"),
        _record("lacking", model_tag=OTHER).replace(b'"status"', b'"state"'),
    )
    stats = ReadStats()
    records = iter_records(
        record_files(tmp_path), stats, model_tag=GOOD, usable=lambda record: "status" in record
    )
    assert _ids(list(records)) == ["kept"]
    assert (stats.unreadable, sum(stats.other_models.values())) == (1, 0)


def test_records_without_time_or_tag_are_records_when_not_filtered(tmp_path: Path) -> None:
    # The writer's own tests write the bare minimum: a decision_id.
    _write(tmp_path / "decisions" / "w.jsonl", json.dumps({"decision_id": "a"}).encode() + b"\n")
    read = read_records(tmp_path)
    assert _ids(read.records) == ["a"] and read.stats.first_time is None


def test_a_decision_recorded_twice_is_read_once_the_first_kept_the_other_counted(
    tmp_path: Path,
) -> None:
    # A retried Spark task (or score.py run again with its --run-id) writes the same
    # decision ids again, in another file or the same one.
    first = _record("a", time="2026-12-01T13:00:00Z")
    _write(tmp_path / "p1" / "decisions" / "w-1.jsonl", first, _record("b"), _record("a"))
    _write(
        tmp_path / "p2" / "decisions" / "w-2.jsonl",
        _record("a", time="2026-12-01T15:00:00Z"),
        _record("b"),
        _record("c"),
    )
    read = read_records(tmp_path)
    assert _ids(read.records) == ["a", "b", "c"]
    assert read.records[0] == json.loads(first)
    assert (read.stats.lines, read.stats.used, read.stats.duplicates) == (6, 3, 3)
    assert read.stats.as_dict()["duplicates"] == 3
    assert read.stats.last_time == dt.datetime(2026, 12, 1, 13, 0, tzinfo=dt.UTC)
    assert read.skipped == 0
