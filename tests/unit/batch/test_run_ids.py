"""Batch runs write their decisions once: ids per (run, row), so a retried run or Spark
task writes the same ids; and the output file is on the disk before it takes its name."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import bentoml
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from credit_risk.batch.ids import new_run_id, run_decision_ids
from credit_risk.batch.io import DecisionWriter, InputChunk
from credit_risk.batch.job import run_job
from credit_risk.batch.scorer import DECISIONS_SCHEMA, BatchScorer
from credit_risk.csv_format import INVALID_STATUS
from credit_risk.model.store import load_from_store
from credit_risk.records import RecordWriter, read_records
from credit_risk.schema import COURSE_EXAMPLE


@pytest.fixture(scope="module")
def scorer(trained_model: str) -> BatchScorer:
    """The batch scorer on the session's trained model."""
    return BatchScorer(load_from_store(bentoml.models.get(trained_model), nthread=2))


def test_run_ids_are_uuids_one_per_run_and_row_the_same_every_time() -> None:
    rows = np.array([0, 1, 2, 999, 2**40, 2**62 - 1])
    ids = run_decision_ids("run-1", rows)
    assert ids == run_decision_ids("run-1", rows.tolist())
    assert len(set(ids)) == len(rows)
    assert {uuid.UUID(text).version for text in ids} == {8}
    assert all(str(uuid.UUID(text)) == text for text in ids)
    assert set(ids).isdisjoint(run_decision_ids("run-2", rows))
    # A run's ids share their first half: its records can be found by it.
    assert len({text[:18] for text in ids}) == 1
    assert run_decision_ids("run-1", []) == []
    many = run_decision_ids(new_run_id(), np.arange(200_000))
    assert len(set(many)) == 200_000
    with pytest.raises(ValueError, match="non-negative"):
        run_decision_ids("run-1", [-1])


def test_a_run_id_gives_each_decided_row_its_id_and_invalid_rows_none(
    scorer: BatchScorer,
) -> None:
    frame = pd.DataFrame([COURSE_EXAMPLE, {**COURSE_EXAMPLE, "age": -1}, COURSE_EXAMPLE])
    table = pa.Table.from_pandas(frame, preserve_index=False)
    row_ids = np.array([10, 11, 12], dtype=np.int64)
    once = scorer.score(table, row_ids, from_text=False, run_id="run-1")
    twice = scorer.score(table, row_ids, from_text=False, run_id="run-1")
    decided = once.decisions.to_pydict()
    assert decided["status"][1] == INVALID_STATUS and decided["decision_id"][1] is None
    assert [decided["decision_id"][0], decided["decision_id"][2]] == run_decision_ids(
        "run-1", [10, 12]
    )
    assert twice.decisions.column("decision_id") == once.decisions.column("decision_id")
    assert once.decided.decision_id == run_decision_ids("run-1", [10, 12])
    # Without a run id, random ids as before.
    fresh = scorer.score(table, row_ids, from_text=False).decisions.column("decision_id")
    assert fresh != once.decisions.column("decision_id")


class _Chunks:
    """An ``ApplicationReader`` over prepared chunks."""

    def __init__(self, tables: list[pa.Table]) -> None:
        self.tables = tables

    def chunks(self) -> Iterator[InputChunk]:
        """The tables, their rows numbered on from one chunk to the next."""
        start = 0
        for table in self.tables:
            ids = np.arange(start, start + table.num_rows, dtype=np.int64)
            start += table.num_rows
            yield InputChunk(table, ids, from_text=False)

    def position(self) -> int:
        """Progress is not followed here."""
        return 0


def test_a_job_run_again_with_its_run_id_writes_records_read_once(
    scorer: BatchScorer, tmp_path: Path
) -> None:
    table = pa.Table.from_pandas(pd.DataFrame([COURSE_EXAMPLE] * 5), preserve_index=False)
    outputs = []
    for attempt in range(2):
        output = tmp_path / f"decisions-{attempt}.csv"
        with RecordWriter.to_directory(tmp_path / "monitoring") as records:
            run_job(_Chunks([table, table]), DecisionWriter(output), scorer, records, run_id="r")
        outputs.append(pd.read_csv(output).decision_id.tolist())
    assert outputs[0] == outputs[1] and len(set(outputs[0])) == 10
    read = read_records(tmp_path / "monitoring")
    assert sorted(r["decision_id"] for r in read.records) == sorted(outputs[0])
    assert read.stats.duplicates == 10


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_the_output_is_fsynced_before_its_rename_and_its_directory_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    events: list[tuple[str, Path]] = []
    real_fsync, real_replace = os.fsync, Path.replace

    def fsync(fd: int) -> None:
        events.append(("fsync", Path(os.readlink(f"/proc/self/fd/{fd}"))))
        real_fsync(fd)

    def replace(self: Path, target: Path) -> Path:
        events.append(("rename", Path(target)))
        return real_replace(self, target)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(Path, "replace", replace)
    output = tmp_path / "out" / f"decisions.{kind}"
    writer = DecisionWriter(output)
    writer.write(_one_row())
    writer.commit()
    assert events == [
        ("fsync", writer.partial),
        ("rename", output),
        ("fsync", output.parent),
    ]
    assert output.exists() and not writer.partial.exists()


def _one_row() -> pa.RecordBatch:
    return pa.RecordBatch.from_pylist(
        [{name: None for name in DECISIONS_SCHEMA.names} | {"row_id": 0, "status": "X"}],
        schema=DECISIONS_SCHEMA,
    )
