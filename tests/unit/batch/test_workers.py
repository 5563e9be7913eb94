"""Scoring in several processes: the same decisions and records as in one, in input order,
and one process per core by default once the input is more than one chunk."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import bentoml
import psutil
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

import score
from credit_risk.batch.fork_server import start_fork_server
from credit_risk.batch.io import (
    CHUNK_ROWS,
    CSV_BLOCK_BYTES,
    CsvReader,
    DecisionWriter,
    ParquetReader,
)
from credit_risk.batch.job import WorkerPool, run_job
from credit_risk.batch.records import open_batch_records
from credit_risk.batch.scorer import DECISIONS_SCHEMA, BatchScorer
from credit_risk.generator import write_portfolio
from credit_risk.model.store import ServedModel, load_from_store
from credit_risk.records import read_records
from credit_risk.settings import RecordsConfig

ROWS = 1_000
CHUNK = 64
"""Sixteen chunks, spread over the workers whatever their timing."""


@pytest.fixture(scope="module")
def served(trained_model: str) -> ServedModel:
    """The session's model, loaded to score."""
    return load_from_store(bentoml.models.get(trained_model), nthread=1)


@pytest.fixture(scope="module")
def portfolio(tmp_path_factory: pytest.TempPathFactory, served: ServedModel) -> Path:
    """Generated applications, three of them invalid (under 18)."""
    path = tmp_path_factory.mktemp("workers") / "portfolio.parquet"
    write_portfolio(served.metadata.reference, ROWS, path, seed=3)
    table = pq.read_table(path)
    ages = table.column("age").to_numpy().copy()
    ages[[5, 400, 999]] = 7
    position = table.schema.get_field_index("age")
    pq.write_table(table.set_column(position, "age", pa.array(ages)), path)
    return path


def _run(
    portfolio: Path,
    served: ServedModel,
    out: Path,
    workers: int = 1,
    pool: WorkerPool | None = None,
) -> tuple[pa.Table, list[dict[str, Any]]]:
    config = RecordsConfig(
        sink="file",
        monitoring_dir=str(out / "records"),
        fsync=False,
        rotate_bytes=1 << 30,
        required=True,
    )
    scorer = BatchScorer(served)
    records = open_batch_records(config)
    summary = run_job(
        ParquetReader(portfolio, chunk_rows=CHUNK),
        DecisionWriter(out / "decisions.parquet"),
        scorer,
        records,
        workers=workers,
        pool=pool,
        records_config=config,
        run_id="run-workers",
    )
    assert summary.rows == ROWS and summary.records == ROWS - 3
    read = read_records(out / "records")
    assert read.skipped == 0
    return pq.read_table(out / "decisions.parquet"), read.records


def test_two_processes_write_what_one_writes(
    portfolio: Path, served: ServedModel, tmp_path: Path
) -> None:
    alone, alone_records = _run(portfolio, served, tmp_path / "one", workers=1)
    shared, shared_records = _run(portfolio, served, tmp_path / "two", workers=2)
    assert shared.column("row_id").to_pylist() == list(range(ROWS))
    assert shared.equals(alone)

    def by_id(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        # Time and latency are each chunk's own.
        return {r["decision_id"]: {**r, "time": None, "latency_ms": None} for r in records}

    assert by_id(shared_records) == by_id(alone_records)
    # The workers hand their labels over as dictionaries; the file holds plain strings.
    assert shared.schema.equals(DECISIONS_SCHEMA)
    assert str(shared.to_pandas()["reason_1_text"].dtype) != "category"


def test_a_pool_started_ahead_scores_jobs_in_turn_and_leaves_nothing_behind(
    portfolio: Path, served: ServedModel, tmp_path: Path
) -> None:
    alone, alone_records = _run(portfolio, served, tmp_path / "one")
    with WorkerPool(2) as pool:
        for job in ("first", "second"):
            shared, shared_records = _run(portfolio, served, tmp_path / job, pool=pool)
            assert shared.equals(alone)
            assert sorted(r["decision_id"] for r in shared_records) == sorted(
                r["decision_id"] for r in alone_records
            )
        assert len(list(pool.directory.iterdir())) == 2  # one setup per job
    assert not pool.directory.exists()


def test_workers_come_from_the_fork_server_started_early(
    portfolio: Path, served: ServedModel, tmp_path: Path
) -> None:
    # score.py starts the server before its own imports; the pool made later forks from it.
    start_fork_server().join(timeout=120)
    (server,) = [
        child for child in psutil.Process().children() if "forkserver" in " ".join(child.cmdline())
    ]
    with WorkerPool(2) as pool:
        _run(portfolio, served, tmp_path / "job", pool=pool)
        # The executor's own table of its processes: no public API lists them.
        workers = [psutil.Process(pid) for pid in pool._executor._processes]
        assert len(workers) == 2
        assert {worker.ppid() for worker in workers} == {server.pid}


def test_one_process_per_core_unless_the_input_is_one_chunk(
    portfolio: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The cores this process may use (a container's cpuset), not the machine's.
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 2, 5})
    one_chunk = ParquetReader(portfolio)
    assert one_chunk.total <= CHUNK_ROWS
    assert score.workers_for(one_chunk, None) == 1
    assert score.workers_for(one_chunk, 3) == 3
    more = ParquetReader(portfolio)
    more.total = CHUNK_ROWS + 1
    assert score.workers_for(more, None) == 3
    csv = tmp_path / "portfolio.csv"
    pacsv.write_csv(pq.read_table(portfolio), csv)
    text = CsvReader(csv)
    assert score.workers_for(text, None) == 1  # its size in bytes, under a block
    text.total = CSV_BLOCK_BYTES + 1
    assert score.workers_for(text, None) == 3


def test_the_fork_server_starts_first_only_for_a_job_that_may_need_workers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    large, small = tmp_path / "large.parquet", tmp_path / "small.parquet"
    large.write_bytes(b"x" * score.EARLY_WORKERS_BYTES)
    small.write_bytes(b"x" * (score.EARLY_WORKERS_BYTES - 1))

    def may(*argv: object) -> bool:
        return score.may_need_workers(score.parse_args([*map(str, argv), "-o", "out.parquet"]))

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    assert may(large)
    assert may(large, "--workers", 3)
    assert not may(large, "--workers", 1)
    assert not may(large, "--spark")
    assert not may(small)
    assert not may(tmp_path / "missing.parquet")
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
    assert not may(large)


@pytest.mark.parametrize("workers", [2, 3])
def test_a_parquet_file_is_shared_in_as_many_chunks_for_each_worker(
    portfolio: Path, workers: int
) -> None:
    reader = ParquetReader(portfolio, chunk_rows=CHUNK)
    reader.share_among(workers)
    sizes = [chunk.table.num_rows for chunk in reader.chunks()]
    assert sum(sizes) == ROWS
    assert len(sizes) % workers == 0
    assert max(sizes) - min(sizes) < len(sizes)  # only the last one shorter, by a little
    assert abs(sizes[0] - CHUNK) <= CHUNK // 4
