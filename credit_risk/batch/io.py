"""Streaming applications in and decisions out, chunk by chunk, in CSV or Parquet.

Memory stays flat whatever the file's size: a reader holds one block of the
input, a writer appends each chunk's decisions as it comes. A CSV line with the
wrong number of fields does not stop the job: pyarrow's ``invalid_row_handler``
hands it over and it comes out as an ``INVALID`` row naming its line.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Final, Protocol

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from credit_risk.batch.scorer import DECISIONS_BATCH_SCHEMA, BadRow
from credit_risk.batch.validation import check_columns
from credit_risk.records.sinks import fsync_path
from credit_risk.vocabulary import APPLICATION_FIELDS

CHUNK_ROWS: Final = 32_768
"""Rows per chunk: large enough that per-chunk costs vanish (the explainer works in
128-row blocks), small enough for flat memory and for several processes to share a
file's chunks evenly to its end (docs/benchmarks.md#batch-against-the-ceiling)."""
CSV_BLOCK_BYTES: Final = 2 << 20
"""About 32,000 rows of the course's columns per CSV block."""


STATISTICS_COLUMNS: Final = ("row_id", "status", "default_probability", "score")
"""The decision columns whose Parquet statistics are written, for readers that skip row
groups by them; those of the reason texts and ids filter nothing, and writing every
column's took a sixth of the writing (docs/benchmarks.md#batch-against-the-ceiling)."""

DICTIONARY_COLUMNS: Final = (
    *(f.name for f in DECISIONS_BATCH_SCHEMA if pa.types.is_dictionary(f.type)),
    "status",
    "out_of_training_range",
    "error",
)
"""The decision columns Parquet dictionary-encodes: those with few distinct values. Tried
on the ids, probabilities and contributions too (Arrow's default), it hashed every value
before giving up: 1.20 against 0.84 µs a row to write, for 2 bytes a row less
(docs/benchmarks.md#batch-against-the-ceiling)."""


class InputError(ValueError):
    """The input file is missing, empty, unreadable or of other columns."""


@dataclass(frozen=True)
class InputChunk:
    """A chunk of applications as read, with the ids of its rows."""

    table: pa.Table | pa.RecordBatch
    row_ids: npt.NDArray[np.int64]
    from_text: bool
    bad_rows: list[BadRow] = field(default_factory=list)


class ApplicationReader(Protocol):
    """Chunks of a file, and how far through it the reading is."""

    total: int
    """The file's size in progress units (rows or bytes)."""

    def chunks(self) -> Iterator[InputChunk]:
        """The file's chunks, in order."""
        ...

    def position(self) -> int:
        """How much of ``total`` has been read."""
        ...


def file_format(path: Path) -> str:
    """``csv`` or ``parquet``, from the file name's suffix."""
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt"):
        return "csv"
    if suffix in (".parquet", ".pq"):
        return "parquet"
    raise InputError(f"{path}: unknown format {suffix!r}; name the file *.csv or *.parquet")


class CsvReader:
    """Streams a CSV file with a header line; every cell is read as text."""

    def __init__(self, path: Path, *, block_bytes: int = CSV_BLOCK_BYTES) -> None:
        """Open ``path`` and check its header; raises ``InputError``."""
        self.path = path
        self.total = path.stat().st_size
        self._bad: list[BadRow] = []
        self._stream: BinaryIO = path.open("rb")
        try:
            self._reader = pacsv.open_csv(
                self._stream,
                read_options=pacsv.ReadOptions(block_size=block_bytes, use_threads=False),
                parse_options=pacsv.ParseOptions(
                    newlines_in_values=True, invalid_row_handler=self._on_bad_row
                ),
                convert_options=pacsv.ConvertOptions(
                    column_types=dict.fromkeys(APPLICATION_FIELDS, pa.string()),
                    strings_can_be_null=False,
                    quoted_strings_can_be_null=False,
                ),
            )
        except pa.ArrowInvalid as error:
            self._stream.close()
            if "Empty CSV file" in str(error):
                raise InputError(
                    f"{path} is empty: expected a header line naming the columns "
                    f"{', '.join(APPLICATION_FIELDS)}, then one application per line"
                ) from error
            raise InputError(f"{path}: not a readable CSV ({error})") from error
        check_input_columns(path, self._reader.schema.names)

    def _on_bad_row(self, row: pacsv.InvalidRow) -> str:
        # row.number counts records from 1, the header included: line numbers
        # as long as no value holds a newline and no line is blank.
        self._bad.append(
            BadRow(
                row_id=row.number - 2,
                error=f"line {row.number}: {row.actual_columns} fields where the header "
                f"has {row.expected_columns}",
            )
        )
        return "skip"

    def position(self) -> int:
        """Bytes of the file read so far."""
        return self._stream.tell() if not self._stream.closed else self.total

    def chunks(self) -> Iterator[InputChunk]:
        """Chunks in file order; unreadable lines merged in by position."""
        next_id = 0
        try:
            while True:
                try:
                    batch = self._reader.read_next_batch()
                except StopIteration:
                    break
                except pa.ArrowInvalid as error:
                    raise InputError(f"{self.path}: {error}") from error
                ids, bad, next_id = _interleave(batch.num_rows, next_id, self._bad)
                yield InputChunk(batch, ids, from_text=True, bad_rows=bad)
            if self._bad:
                bad = sorted(self._bad, key=lambda row: row.row_id)
                self._bad.clear()
                yield InputChunk(
                    pa.table({name: pa.array([], pa.string()) for name in APPLICATION_FIELDS}),
                    np.zeros(0, dtype=np.int64),
                    from_text=True,
                    bad_rows=bad,
                )
        finally:
            self._stream.close()


def _interleave(
    rows: int, next_id: int, pending: list[BadRow]
) -> tuple[npt.NDArray[np.int64], list[BadRow], int]:
    """Ids of a batch's good rows, skipping the ids of unreadable rows among them."""
    skipped = {bad.row_id for bad in pending}
    candidates = np.arange(next_id, next_id + rows + len(skipped), dtype=np.int64)
    if skipped:
        candidates = candidates[~np.isin(candidates, list(skipped))]
    ids = candidates[:rows]
    end = int(ids[-1]) + 1 if rows else next_id
    mine = sorted((bad for bad in pending if bad.row_id < end), key=lambda bad: bad.row_id)
    pending[:] = [bad for bad in pending if bad.row_id >= end]
    return ids, mine, end


class ParquetReader:
    """Streams a Parquet file batch by batch; column types are the values' types."""

    def __init__(self, path: Path, *, chunk_rows: int = CHUNK_ROWS) -> None:
        """Open ``path`` and check its columns; raises ``InputError``."""
        self.path = path
        self.chunk_rows = chunk_rows
        try:
            self._file = pq.ParquetFile(path)
        except (pa.ArrowInvalid, OSError) as error:
            raise InputError(f"{path}: not a readable Parquet file ({error})") from error
        self.total = self._file.metadata.num_rows
        self._read = 0
        check_input_columns(path, self._file.schema_arrow.names)

    def position(self) -> int:
        """Rows read so far."""
        return self._read

    def share_among(self, workers: int) -> None:
        """Chunks of about ``chunk_rows`` rows, as many for each of ``workers`` processes:
        the file's 300,000 rows in ten of 30,000, not nine of 32,768 and a tenth of 5,088,
        which left a worker idle for a chunk's time at the end (docs/batch.md)."""
        count = max(1, round(self.total / self.chunk_rows))
        count = -(-count // workers) * workers
        self.chunk_rows = max(1, -(-self.total // count))

    def chunks(self) -> Iterator[InputChunk]:
        """Chunks in file order."""
        for batch in self._file.iter_batches(batch_size=self.chunk_rows):
            ids = np.arange(self._read, self._read + batch.num_rows, dtype=np.int64)
            self._read += batch.num_rows
            yield InputChunk(batch, ids, from_text=False)


def check_input_columns(path: Path, names: list[str]) -> None:
    """Refuse a file whose columns are not the application's fields."""
    try:
        check_columns(names)
    except ValueError as error:
        raise InputError(f"{path}: {error}") from error


def open_reader(path: Path) -> CsvReader | ParquetReader:
    """The reader for ``path``'s format; raises ``InputError`` naming the problem."""
    kind = file_format(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    if not os.access(path, os.R_OK):
        raise InputError(f"{path}: not readable (permissions)")
    return CsvReader(path) if kind == "csv" else ParquetReader(path)


class DecisionWriter:
    """Appends decision chunks to ``<path>.partial``; ``commit`` renames it to ``path``,
    so a file under the final name is always a complete run's."""

    def __init__(self, path: Path) -> None:
        """Create the partial file for ``path``'s format."""
        self.path = path
        self.kind = file_format(path)
        self.partial = path.with_name(path.name + ".partial")
        self.partial.parent.mkdir(parents=True, exist_ok=True)
        self._writer: pacsv.CSVWriter | pq.ParquetWriter
        if self.kind == "csv":
            self._writer = pacsv.CSVWriter(self.partial, DECISIONS_BATCH_SCHEMA)
        else:
            self._writer = pq.ParquetWriter(
                self.partial,
                DECISIONS_BATCH_SCHEMA,
                write_statistics=list(STATISTICS_COLUMNS),
                use_dictionary=list(DICTIONARY_COLUMNS),
                # The file's own types only: its dictionaries read back as the strings
                # of DECISIONS_SCHEMA, in pandas too (not as categories).
                store_schema=False,
            )

    def write(self, batch: pa.RecordBatch) -> None:
        """Append one chunk's decisions (``DECISIONS_BATCH_SCHEMA``, or the plain
        ``DECISIONS_SCHEMA``)."""
        if batch.schema != DECISIONS_BATCH_SCHEMA:
            batch = batch.cast(DECISIONS_BATCH_SCHEMA)
        if batch.num_rows:
            self._writer.write_batch(batch)

    def commit(self) -> None:
        """Close, flush to the disk, and move into place.

        The data is fsynced before the rename and the directory after it: otherwise a
        machine crash soon after could leave ``path`` naming an empty or torn file,
        or no file at all, after the job reported success.
        """
        self._writer.close()
        fsync_path(self.partial)
        self.partial.replace(self.path)
        fsync_path(self.path.parent)

    def abort(self) -> None:
        """Close, leaving the partial file for inspection."""
        self._writer.close()
