"""A batch job: read, score, record, write, chunk after chunk.

No decision without its record: each chunk's records are written (and
acknowledged by ``RecordWriter``) before its decisions reach the output file;
when records cannot be written the job stops, and the output is left as
``<output>.partial`` holding only recorded decisions.
"""

from __future__ import annotations

import dataclasses
import gc
import itertools
import pickle
import shutil
import tempfile
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import pyarrow as pa
import pyarrow.compute as pc

from credit_risk.batch.fork_server import worker_context
from credit_risk.batch.io import ApplicationReader, DecisionWriter, InputChunk
from credit_risk.batch.records import BatchRecords, open_batch_records, write_chunk_records
from credit_risk.batch.scorer import BatchScorer, ScoredChunk
from credit_risk.csv_format import INVALID_STATUS
from credit_risk.records import RecordWriter, decision_lines

if TYPE_CHECKING:
    from credit_risk.model.store import ServedModel
    from credit_risk.settings import RecordsConfig

ENDPOINT: Final = "score.py"
"""What the records of a local batch job name as their endpoint."""


@dataclass
class JobSummary:
    """What a job did."""

    rows: int = 0
    by_status: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    records: int = 0
    scoring_seconds: float = 0.0
    """Summed over chunks (and processes): validation to records written."""
    record_seconds: float = 0.0
    """Of which building and writing records."""

    @property
    def invalid(self) -> int:
        """Rows that failed validation or could not be read."""
        return self.by_status[INVALID_STATUS]

    @property
    def rows_per_second(self) -> float:
        """Throughput over the whole job, reading and writing included."""
        return self.rows / self.seconds if self.seconds else 0.0

    def add(self, decisions: pa.RecordBatch) -> None:
        """Count one chunk's decisions."""
        self.rows += decisions.num_rows
        counts = pc.value_counts(decisions.column("status"))
        for item in counts.to_pylist():
            self.by_status[item["values"]] += item["counts"]


def chunk_record_lines(
    chunk: ScoredChunk, *, endpoint: str, latency_ms: float, time: str | None = None
) -> list[bytes]:
    """The records of a chunk's decisions, in the team's contract, as the API writes them."""
    return decision_lines(
        chunk.applications,
        chunk.decided.answers(),
        endpoint=endpoint,
        latency_ms=latency_ms,
        time=time,
        challengers=chunk.challengers,
    )


@dataclass(frozen=True)
class ChunkResult:
    """A scored chunk as the writing side needs it: its decisions, whose records
    (``recorded`` of them) are written already."""

    decisions: pa.RecordBatch
    recorded: int = 0
    seconds: float = 0.0
    """The chunk's scoring, its records included."""
    record_seconds: float = 0.0
    """Building and writing its records."""


def score_chunk(
    scorer: BatchScorer,
    chunk: InputChunk,
    *,
    endpoint: str,
    records: BatchRecords | None,
    run_id: str | None = None,
) -> ChunkResult:
    """Score one chunk and, when ``records`` is given, write its records before its
    decisions are returned; ``run_id`` makes its decision ids the run's
    (``BatchScorer.score``). Raises ``RecordsUnavailable``."""
    started = time.perf_counter()
    scored = scorer.score(
        chunk.table,
        chunk.row_ids,
        from_text=chunk.from_text,
        bad_rows=chunk.bad_rows,
        run_id=run_id,
    )
    recorded = 0
    scored_at = time.perf_counter()
    if records is not None:
        latency_ms = (scored_at - started) * 1000
        recorded = write_chunk_records(
            records,
            scored.columns,
            scored.decided,
            endpoint=endpoint,
            latency_ms=latency_ms,
            challengers=scored.challengers,
        )
    done = time.perf_counter()
    return ChunkResult(scored.decisions, recorded, done - started, done - scored_at)


_worker: dict[str, Any] = {}
"""In a worker process of a ``WorkerPool``: the job it scores for (its setup file), and
that job's scorer and record writer, made once."""


@dataclass(frozen=True)
class WorkerSetup:
    """What every worker of one job scores with, pickled once to a private file that
    each worker reads before its first chunk: the model arrives loaded and compiled
    (3 MB, 10 ms), where loading it from the store would compile and verify the
    explainer once more in every worker (3.5 s)."""

    served: ServedModel
    records: RecordsConfig | None
    columnar: bool
    challenger_tag: str | None = None


def _worker_for(path: str) -> dict[str, Any]:
    from credit_risk.model.shadow import BatchChallenger

    if _worker.get("setup") != path:
        with open(path, "rb") as file:
            # This job's own file, in a folder only this user may enter (mkdtemp).
            setup: WorkerSetup = pickle.load(file)
        served = setup.served
        served.booster.set_param({"nthread": 1})  # one process per core already
        gc.freeze()
        _worker["scorer"] = BatchScorer(
            dataclasses.replace(served, nthread=1),
            BatchChallenger(setup.challenger_tag, nthread=1) if setup.challenger_tag else None,
        )
        if _worker.get("records") is not None:  # the previous job's: done with
            _worker["records"].close()
        _worker["records"] = (
            open_batch_records(setup.records, columnar=setup.columnar)
            if setup.records is not None
            else None
        )
        _worker["setup"] = path
    return _worker


def _score_in_worker(
    setup: str, chunk: InputChunk, endpoint: str, run_id: str | None
) -> ChunkResult:
    # The worker writes its chunk's records itself, before handing the decisions
    # back: the main process then only reads and writes files.
    worker = _worker_for(setup)
    return score_chunk(
        worker["scorer"], chunk, endpoint=endpoint, records=worker["records"], run_id=run_id
    )


def _worker_started() -> None:
    """Nothing: a first task, so that the pool starts a worker for it."""


class WorkerPool:
    """A batch job's worker processes, started in the background as soon as it is made.

    Made before the model is loaded (``score.py`` does), the fork server's imports
    (2.6 s) and each worker's start (0.1 s, measured: docs/batch.md) overlap the
    loading and compiling, and the first chunks find their workers ready. A pool serves
    one job at a time (``scored``); ``close`` stops its workers.
    """

    def __init__(self, workers: int) -> None:
        """Start ``workers`` processes, from a thread: this one goes on meanwhile."""
        self.workers = workers
        self._executor = ProcessPoolExecutor(max_workers=workers, mp_context=worker_context())
        self.directory = Path(tempfile.mkdtemp(prefix="credit-risk-workers-"))
        """Where each job's ``WorkerSetup`` is pickled for the workers; gone once closed."""
        self._jobs = itertools.count()
        # The executor starts a process per task submitted while none is idle.
        self._starting = threading.Thread(
            target=lambda: [self._executor.submit(_worker_started) for _ in range(workers)],
            name="credit-risk-workers",
            daemon=True,
        )
        self._starting.start()

    def scored(
        self,
        chunks: Iterator[InputChunk],
        setup: WorkerSetup,
        *,
        endpoint: str,
        run_id: str | None = None,
    ) -> Iterator[ChunkResult]:
        """``chunks`` scored by the workers with ``setup``, yielded in input order; at
        most two chunks per worker are in flight, so memory stays flat. Each worker
        writes its chunks' records through its own ``open_batch_records(setup.records)``.

        This process only reads and writes (a tenth of the work, with the decisions'
        labels pickled as dictionaries): when it also scored chunks of its own, they ran
        a third slower than a worker's beside its reading, writing and the pool's
        threads, and the last chunks queued for a worker waited while it sat idle
        (docs/batch.md).
        """
        path = self.directory / f"setup-{next(self._jobs)}.pickle"
        path.write_bytes(pickle.dumps(setup, protocol=pickle.HIGHEST_PROTOCOL))
        self._starting.join()
        pending: deque[Future[ChunkResult]] = deque()
        try:
            for chunk in chunks:
                pending.append(
                    self._executor.submit(_score_in_worker, str(path), chunk, endpoint, run_id)
                )
                while pending and pending[0].done():
                    yield pending.popleft().result()
                if len(pending) >= 2 * self.workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()

    def close(self) -> None:
        """Stop the workers (after the chunks they hold) and remove the setup files."""
        self._starting.join()
        self._executor.shutdown(wait=True, cancel_futures=True)
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def run_job(
    reader: ApplicationReader,
    writer: DecisionWriter,
    scorer: BatchScorer,
    records: BatchRecords | None,
    *,
    endpoint: str = ENDPOINT,
    on_chunk: Callable[[JobSummary, int], None] | None = None,
    workers: int = 1,
    pool: WorkerPool | None = None,
    records_config: RecordsConfig | None = None,
    run_id: str | None = None,
) -> JobSummary:
    """Score every chunk of ``reader`` into ``writer``; ``records`` None means records off.

    With ``workers`` > 1 (or a ``pool``, started ahead), chunks are scored in that many
    worker processes (each given ``scorer``'s model, and writing records with
    ``open_batch_records`` of ``records_config``, in ``records``' form, required when
    ``records`` is given) while this one reads and writes.
    ``on_chunk(summary, position)`` is called after each chunk, for progress.
    ``run_id`` makes decision ids the run's, one per (run, row): run again with the same
    ``run_id``, a job writes the same ids, and a reader of records keeps one of each.
    Raises ``RecordsUnavailable`` (the partial output is kept) or the reader's
    ``InputError``.
    """
    if pool is None and workers > 1:
        with WorkerPool(workers) as own:
            return run_job(
                reader,
                writer,
                scorer,
                records,
                endpoint=endpoint,
                on_chunk=on_chunk,
                pool=own,
                records_config=records_config,
                run_id=run_id,
            )
    summary = JobSummary()
    # What exists now (modules, the model) lives as long as the job: frozen, the collector
    # no longer walks it each time a chunk's lists trigger a collection.
    gc.freeze()
    started = time.perf_counter()
    results: Iterator[ChunkResult]
    if pool is not None:
        if records is not None and records_config is None:
            raise ValueError("workers write records themselves: give records_config")
        setup = WorkerSetup(
            scorer.served,
            records_config if records is not None else None,
            columnar=not isinstance(records, RecordWriter),
            challenger_tag=scorer.challenger.tag if scorer.challenger else None,
        )
        results = pool.scored(reader.chunks(), setup, endpoint=endpoint, run_id=run_id)
    else:
        results = (
            score_chunk(scorer, chunk, endpoint=endpoint, records=records, run_id=run_id)
            for chunk in reader.chunks()
        )
    try:
        for result in results:
            summary.records += result.recorded
            summary.scoring_seconds += result.seconds
            summary.record_seconds += result.record_seconds
            writer.write(result.decisions)
            summary.add(result.decisions)
            summary.seconds = time.perf_counter() - started
            if on_chunk is not None:
                on_chunk(summary, reader.position())
    except BaseException:
        writer.abort()
        raise
    writer.commit()
    summary.seconds = time.perf_counter() - started
    return summary
