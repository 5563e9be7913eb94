"""A batch job: read, score, record, write, chunk after chunk.

No decision without its record: each chunk's records are written (and
acknowledged by ``RecordWriter``) before its decisions reach the output file;
when records cannot be written the job stops, and the output is left as
``<output>.partial`` holding only recorded decisions.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

import pyarrow as pa
import pyarrow.compute as pc

from credit_risk.batch.io import ApplicationReader, DecisionWriter
from credit_risk.batch.scorer import BatchScorer, ScoredChunk
from credit_risk.csv_format import INVALID_STATUS
from credit_risk.records import RecordWriter, decision_lines
from credit_risk.schema import CreditApplication

ENDPOINT: Final = "score.py"
"""What the records of a local batch job name as their endpoint."""


@dataclass
class JobSummary:
    """What a job did."""

    rows: int = 0
    by_status: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    records: int = 0

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


def chunk_record_lines(chunk: ScoredChunk, *, endpoint: str, latency_ms: float) -> list[bytes]:
    """The records of a chunk's decisions, in the team's contract (``credit_risk.records``)."""
    applications = [CreditApplication.model_construct(**row) for row in chunk.applications]
    return decision_lines(
        applications, chunk.decided.decisions(), endpoint=endpoint, latency_ms=latency_ms
    )


def run_job(
    reader: ApplicationReader,
    writer: DecisionWriter,
    scorer: BatchScorer,
    records: RecordWriter | None,
    *,
    endpoint: str = ENDPOINT,
    on_chunk: Callable[[JobSummary, int], None] | None = None,
) -> JobSummary:
    """Score every chunk of ``reader`` into ``writer``; ``records`` None means records off.

    ``on_chunk(summary, position)`` is called after each chunk, for progress.
    Raises ``RecordsUnavailable`` (the partial output is kept) or the reader's
    ``InputError``.
    """
    summary = JobSummary()
    started = time.perf_counter()
    try:
        for chunk in reader.chunks():
            chunk_started = time.perf_counter()
            scored = scorer.score(
                chunk.table, chunk.row_ids, from_text=chunk.from_text, bad_rows=chunk.bad_rows
            )
            if records is not None and scored.applications:
                latency_ms = (time.perf_counter() - chunk_started) * 1000
                lines = chunk_record_lines(scored, endpoint=endpoint, latency_ms=latency_ms)
                records.write_lines(lines)
                summary.records += len(lines)
            writer.write(scored.decisions)
            summary.add(scored.decisions)
            summary.seconds = time.perf_counter() - started
            if on_chunk is not None:
                on_chunk(summary, reader.position())
    except BaseException:
        writer.abort()
        raise
    writer.commit()
    summary.seconds = time.perf_counter() - started
    return summary
