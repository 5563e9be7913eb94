"""Batch runs' columnar records: the JSON records' fields and values, read back alike by
the one reader, the drift report and the outcomes join; written before the decisions."""

from __future__ import annotations

import json
import math
from pathlib import Path

import bentoml
import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from credit_risk.batch.io import DecisionWriter, ParquetReader
from credit_risk.batch.job import run_job
from credit_risk.batch.records import RecordFiles, record_table
from credit_risk.batch.scorer import BatchScorer, ScoredChunk
from credit_risk.drift.psi import ReferenceBins
from credit_risk.drift.report import measure
from credit_risk.fairness.__main__ import main as fairness_command
from credit_risk.model.metadata import ModelMetadata
from credit_risk.model.store import load_from_store
from credit_risk.outcomes.join import create_decisions
from credit_risk.records import (
    RecordWriter,
    decision_lines,
    decision_record,
    read_records,
    record_line,
)
from credit_risk.records.reader import ReadStats, iter_records, record_files
from credit_risk.schema import application_records

TIME = "2026-12-05T10:00:00.000000Z"


@pytest.fixture(scope="module")
def scorer(trained_model: str) -> BatchScorer:
    """The batch scorer on the session's trained model."""
    return BatchScorer(load_from_store(bentoml.models.get(trained_model), nthread=2))


@pytest.fixture(scope="module")
def chunk(scorer: BatchScorer, course_frame: pd.DataFrame) -> ScoredChunk:
    """Decisions of the course's applications, some of them with a missing income, one
    invalid (so decisions and rows differ) and some out of the training range."""
    applications = application_records(course_frame.head(400))
    for row in range(0, 400, 7):
        applications[row]["income"] = None
    applications[3]["age"] = 10  # invalid: not among the decided rows
    applications[5]["price"] = 1e7  # out of the training range
    return scorer.score(pa.Table.from_pylist(applications), np.arange(400), from_text=False)


def _json_dir(chunk: ScoredChunk, folder: Path) -> Path:
    lines = decision_lines(
        chunk.applications, chunk.decided.answers(), endpoint="score.py", latency_ms=2.5, time=TIME
    )
    with RecordWriter.to_directory(folder) as writer:
        writer.write_lines(lines)
    return folder


def _parquet_dir(chunk: ScoredChunk, folder: Path) -> Path:
    table = record_table(
        chunk.columns, chunk.decided, endpoint="score.py", latency_ms=2.5, time=TIME
    )
    RecordFiles(folder).write(table)
    return folder


def test_the_table_holds_the_json_records(chunk: ScoredChunk) -> None:
    table = record_table(
        chunk.columns, chunk.decided, endpoint="score.py", latency_ms=2.5, time=TIME
    )
    lines = decision_lines(
        chunk.applications, chunk.decided.answers(), endpoint="score.py", latency_ms=2.5, time=TIME
    )
    rows = table.to_pylist()
    assert len(rows) == len(lines) == 399
    assert [record_line(row) for row in rows] == lines  # same fields, order and values
    assert any(row["application"]["income"] is None for row in rows)
    assert any(row["out_of_training_range"] for row in rows)
    assert {len(row["reasons"]) for row in rows} != {4}


def test_parquet_and_json_records_read_back_identical(chunk: ScoredChunk, tmp_path: Path) -> None:
    as_json = read_records(_json_dir(chunk, tmp_path / "json"))
    as_parquet = read_records(_parquet_dir(chunk, tmp_path / "parquet"))
    assert [p.suffix for p in record_files(tmp_path / "parquet")] == [".parquet"]
    assert as_parquet.records == as_json.records
    assert as_parquet.stats.as_dict() == as_json.stats.as_dict()
    assert as_parquet.stats.used == 399 and as_parquet.skipped == 0
    size = sum(p.stat().st_size for p in record_files(tmp_path / "parquet"))
    json_size = sum(p.stat().st_size for p in record_files(tmp_path / "json"))
    assert size < json_size / 3  # the reason for the form (400 rows: footers weigh)


def test_a_torn_parquet_file_is_partial_and_a_hidden_one_unseen(
    chunk: ScoredChunk, tmp_path: Path
) -> None:
    folder = _parquet_dir(chunk, tmp_path)
    whole = record_files(folder)[0]
    data = whole.read_bytes()
    (whole.parent / "torn-copy.parquet").write_bytes(data[: len(data) // 2])
    (whole.parent / f".{whole.name}.tmp").write_bytes(data[: len(data) // 2])
    (whole.parent / "foreign.parquet").write_bytes(b"PAR1 not really PAR1")
    read = read_records(folder)
    assert read.stats.files == 3
    assert (read.stats.used, read.stats.partial, read.stats.unreadable) == (399, 1, 1)


def test_drift_fairness_and_outcomes_over_parquet_equal_them_over_json(
    chunk: ScoredChunk, scorer: BatchScorer, trained_model: str, tmp_path: Path
) -> None:
    folders = {
        "json": _json_dir(chunk, tmp_path / "json"),
        "parquet": _parquet_dir(chunk, tmp_path / "parquet"),
    }
    metadata = ModelMetadata.model_validate(bentoml.models.get(trained_model).info.metadata)
    bins = ReferenceBins.from_reference(metadata.reference)
    drifts = {}
    joined = {}
    fairness = {}
    for form, folder in folders.items():
        report_dir = tmp_path / f"fairness-{form}"
        assert fairness_command(["--records", str(folder), "-o", str(report_dir)]) in (0, 1)
        fairness[form] = json.loads((report_dir / "fairness.json").read_text())
        # The population names the folder read; everything else must be equal.
        fairness[form].pop("population")
        stats = ReadStats()
        report = measure(
            bins,
            iter_records(record_files(folder), stats, model_tag=scorer.served.tag),
            model_tag=scorer.served.tag,
            since=None,
            stats=stats,
        )
        drifts[form] = [(f.name, f.psi, f.band) for f in report.fields]
        connection = duckdb.connect()
        scan = create_decisions(connection, folder)
        joined[form] = (
            scan.as_dict(),
            connection.execute("SELECT * FROM decisions ORDER BY decision_id").fetchall(),
        )
    assert drifts["parquet"] == drifts["json"]
    assert fairness["parquet"] == fairness["json"]
    assert fairness["json"]["decisions"] == 399
    assert all(not math.isnan(psi) for _, psi, _ in drifts["json"])
    assert joined["parquet"] == joined["json"]
    assert len(joined["json"][1]) == 399


class _CrashingWriter(DecisionWriter):
    """Dies (as a killed process would stop) writing the third chunk's decisions."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.chunks = 0

    def write(self, batch: pa.RecordBatch) -> None:
        self.chunks += 1
        if self.chunks == 3:
            raise KeyboardInterrupt
        super().write(batch)


def test_a_crash_between_records_and_decisions_loses_no_record(
    scorer: BatchScorer, course_frame: pd.DataFrame, tmp_path: Path
) -> None:
    portfolio = tmp_path / "portfolio.parquet"
    pd.DataFrame(application_records(course_frame.head(1000))).to_parquet(portfolio)
    writer = _CrashingWriter(tmp_path / "decisions.parquet")
    with pytest.raises(KeyboardInterrupt):
        run_job(
            ParquetReader(portfolio, chunk_rows=300),
            writer,
            scorer,
            RecordFiles(tmp_path / "monitoring"),
            run_id="crash",
        )
    written = pd.read_parquet(writer.partial)
    recorded = {r["decision_id"] for r in read_records(tmp_path / "monitoring").records}
    assert len(written) == 600
    assert set(written.decision_id.dropna()) <= recorded
    # The third chunk's records went first: recorded, its decisions never written.
    assert len(recorded) > written.decision_id.notna().sum() > 0


def test_a_field_added_to_the_record_reaches_the_table(
    chunk: ScoredChunk, monkeypatch: pytest.MonkeyPatch
) -> None:
    from credit_risk.batch import records

    def with_challenger(application: dict, decision: dict, **kwargs: object) -> dict:
        record = decision_record(application, decision, **kwargs)  # type: ignore[arg-type]
        return {**record, "challenger": {"score": decision["score"] + 1}}

    monkeypatch.setattr(records, "decision_record", with_challenger)
    rows = record_table(
        chunk.columns, chunk.decided, endpoint="score.py", latency_ms=2.5, time=TIME
    ).to_pylist()
    expected = [
        with_challenger(application, answer, endpoint="score.py", latency_ms=2.5, time=TIME)
        for application, answer in zip(chunk.applications, chunk.decided.answers(), strict=True)
    ]
    assert rows == expected and list(rows[0])[-1] == "challenger"
