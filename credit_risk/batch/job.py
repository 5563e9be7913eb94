"""A batch job: read, score, record, write, chunk after chunk.

No decision without its record: each chunk's records are written (and
acknowledged by ``RecordWriter``) before its decisions reach the output file;
when records cannot be written the job stops, and the output is left as
``<output>.partial`` holding only recorded decisions.
"""

from __future__ import annotations

import dataclasses
import gc
import multiprocessing
import multiprocessing.forkserver
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import pyarrow as pa
import pyarrow.compute as pc

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
"""In a worker process of ``scored_in_workers``: its scorer and record writer, made once."""


def _start_worker(
    served: ServedModel,
    records: RecordsConfig | None,
    columnar: bool,
    challenger_tag: str | None = None,
) -> None:
    from credit_risk.model.shadow import BatchChallenger

    # The model arrives loaded and compiled (3 MB pickled, 25 ms): loading it again from
    # the store would compile and verify the explainer once more in every worker (3.5 s).
    served.booster.set_param({"nthread": 1})  # one process per core already
    gc.freeze()
    _worker["scorer"] = BatchScorer(
        dataclasses.replace(served, nthread=1),
        BatchChallenger(challenger_tag, nthread=1) if challenger_tag else None,
    )
    _worker["records"] = (
        open_batch_records(records, columnar=columnar) if records is not None else None
    )


def _score_in_worker(chunk: InputChunk, endpoint: str, run_id: str | None) -> ChunkResult:
    # The worker writes its chunk's records itself, before handing the decisions
    # back: the main process then only reads and writes files.
    return score_chunk(
        _worker["scorer"], chunk, endpoint=endpoint, records=_worker["records"], run_id=run_id
    )


WORKER_MODULES: Final = ["credit_risk.batch.job"]
"""What the fork server imports once, for every worker it forks (pyarrow, numpy,
XGBoost, the scorer): a spawned worker imported them itself, 2.6 s each."""


QUEUED_PER_WORKER: Final = 2
"""Chunks waiting for or in a worker before this process scores one itself."""


def worker_context() -> multiprocessing.context.ForkServerContext:
    """Where workers come from: a fork server, a fresh single-threaded process that has
    imported ``WORKER_MODULES`` and forks each worker from itself.

    Not a plain fork of this process, which runs threads (the progress display's,
    pyarrow's pools) whose locks a child could inherit held; not spawn, whose workers
    each import everything again, longer than a 300,000-row job takes on two cores.
    """
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(WORKER_MODULES)
    return context


def start_workers_early() -> None:
    """Start the fork server now, so that its imports overlap this process's own work
    (loading and compiling the model); ``scored_in_workers`` then forks from it at once."""
    worker_context()
    multiprocessing.forkserver.ensure_running()


def scored_in_workers(
    chunks: Iterator[InputChunk],
    served: ServedModel,
    workers: int,
    *,
    endpoint: str,
    records: RecordsConfig | None,
    run_id: str | None = None,
    columnar: bool = True,
    local: Callable[[InputChunk], ChunkResult] | None = None,
    challenger_tag: str | None = None,
) -> Iterator[ChunkResult]:
    """Chunks scored by ``workers`` processes, yielded in input order; at most two chunks
    per worker are in flight, so memory stays flat. Each worker gets ``served`` once
    and writes its chunks' records through its own ``open_batch_records(records)``.

    With ``local`` (this process's own scoring), this process is one of the ``workers``:
    ``workers - 1`` are started, and a chunk that finds each of them with two chunks
    queued is scored here. This process would otherwise mostly wait (reading and writing
    take a sixth of the time); the queue of two keeps a worker busy while this process
    scores a chunk of its own. Workers are forked by ``worker_context``'s fork server
    (``start_workers_early`` starts it ahead).
    """
    helpers = workers - 1 if local is not None else workers
    context = worker_context()
    with ProcessPoolExecutor(
        max_workers=helpers,
        mp_context=context,
        initializer=_start_worker,
        initargs=(served, records, columnar, challenger_tag),
    ) as pool:
        pending: deque[Future[ChunkResult] | ChunkResult] = deque()

        def busy() -> int:
            return sum(1 for item in pending if isinstance(item, Future) and not item.done())

        def first() -> ChunkResult:
            item = pending.popleft()
            return item.result() if isinstance(item, Future) else item

        for chunk in chunks:
            if local is not None and busy() >= QUEUED_PER_WORKER * helpers:
                pending.append(local(chunk))
            else:
                pending.append(pool.submit(_score_in_worker, chunk, endpoint, run_id))
            while pending and not (isinstance(pending[0], Future) and not pending[0].done()):
                yield first()
            if len(pending) >= 2 * workers:
                yield first()
        while pending:
            yield first()


def run_job(
    reader: ApplicationReader,
    writer: DecisionWriter,
    scorer: BatchScorer,
    records: BatchRecords | None,
    *,
    endpoint: str = ENDPOINT,
    on_chunk: Callable[[JobSummary, int], None] | None = None,
    workers: int = 1,
    records_config: RecordsConfig | None = None,
    run_id: str | None = None,
) -> JobSummary:
    """Score every chunk of ``reader`` into ``writer``; ``records`` None means records off.

    With ``workers`` > 1, chunks are scored in that many processes, this one included
    (the others each given ``scorer``'s model, and writing records with ``open_batch_records``
    of ``records_config``, in ``records``' form, required when ``records`` is given)
    and this one also reads and writes.
    ``on_chunk(summary, position)`` is called after each chunk, for progress.
    ``run_id`` makes decision ids the run's, one per (run, row): run again with the same
    ``run_id``, a job writes the same ids, and a reader of records keeps one of each.
    Raises ``RecordsUnavailable`` (the partial output is kept) or the reader's
    ``InputError``.
    """
    summary = JobSummary()
    # What exists now (modules, the model) lives as long as the job: frozen, the collector
    # no longer walks it each time a chunk's lists trigger a collection.
    gc.freeze()
    started = time.perf_counter()
    results: Iterator[ChunkResult]
    if workers > 1:
        if records is not None and records_config is None:
            raise ValueError("workers write records themselves: give records_config")
        results = scored_in_workers(
            reader.chunks(),
            scorer.served,
            workers,
            endpoint=endpoint,
            records=records_config if records is not None else None,
            run_id=run_id,
            columnar=not isinstance(records, RecordWriter),
            local=lambda chunk: score_chunk(
                scorer, chunk, endpoint=endpoint, records=records, run_id=run_id
            ),
            challenger_tag=scorer.challenger.tag if scorer.challenger else None,
        )
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
