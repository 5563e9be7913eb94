"""Batch runs' decision records as columns: one Parquet file per chunk, written whole.

A batch chunk's records are the same records as the JSON lines (``format.py``): the
same fields, in the same order, with the same values; ``reader.py`` reads both and
yields the same dicts. Columns cost about 74 bytes a decision on disk against 700 as
JSON lines, and are built without a dict per decision.

One definition of the fields: ``decision_record``. ``record_table`` asks it for the
field order of a chunk's first decision, builds the fields it knows column-wise, and
any other field (one added to ``decision_record`` later) from ``decision_record``'s own
dicts, so a new field reaches both forms; ``tests/unit/batch/test_records.py``
checks the two forms are equal.
(Here, not in ``records/``: the service packs ``records/`` and has no pyarrow.)

A file is written under a hidden temporary name, flushed (fsynced if asked), then
renamed into place: a reader never sees a file being written, and a torn file (a
truncated copy) has no Parquet footer, which the reader detects and skips.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import logging
import os
import socket
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

from credit_risk.decisions import DecisionColumns
from credit_risk.reasons import FIELD_REASONS, MAX_REASONS
from credit_risk.records.format import (
    COLUMNAR_SUFFIX,
    decision_lines,
    decision_record,
    utc_timestamp,
)
from credit_risk.records.sinks import FILE_MODE, fsync_path
from credit_risk.records.writer import (
    RecordsUnavailable,
    RecordWriter,
    check_directory,
    open_writer,
)
from credit_risk.schema import application_records
from credit_risk.vocabulary import APPLICATION_FIELDS, INTEGER_FIELDS, NUMERIC_FIELDS

if TYPE_CHECKING:
    from credit_risk.settings import RecordsConfig

logger = logging.getLogger("credit_risk.records")

COMPRESSION: Final = "lz4"
"""lz4: 74 bytes a decision and 1.4 µs to write, where zstd takes 48 bytes and 2.2 µs
(docs/records.md): the records are a batch run's largest cost after the explainer."""

_REASON_CODES: Final = pa.array([reason["code"] for reason in FIELD_REASONS], type=pa.string())
_REASON_FIELDS: Final = pa.array([reason["field"] for reason in FIELD_REASONS], type=pa.string())
_NUMERIC_NAMES: Final = pa.array(NUMERIC_FIELDS, type=pa.string())

REASON_FIELD_NAMES: Final = ("code", "field", "contribution")
"""A record's reason, as the JSON form's: its code and field (labels), its contribution."""


def _application_type(name: str) -> pa.DataType:
    if name in INTEGER_FIELDS:
        return pa.int64()
    if name in NUMERIC_FIELDS:
        return pa.float64()
    return pa.string()


APPLICATION_TYPE: Final = pa.struct(
    [(name, _application_type(name)) for name in APPLICATION_FIELDS]
)
"""The record's ``application``: ``schema.application_records``' types, null for missing."""


def _application(columns: Mapping[str, npt.ArrayLike], count: int) -> pa.Array:
    arrays = []
    for field in APPLICATION_TYPE:
        values = np.asarray(columns[field.name])
        if field.name in NUMERIC_FIELDS and field.name not in INTEGER_FIELDS:
            money = values.astype(np.float64)
            arrays.append(pa.array(money, type=field.type, mask=np.isnan(money)))
        elif field.name in INTEGER_FIELDS:
            arrays.append(pa.array(values.astype(np.int64), type=field.type))
        else:
            arrays.append(pa.array(values, type=field.type))
    if not arrays:
        return pa.nulls(count, APPLICATION_TYPE)
    return pa.StructArray.from_arrays(arrays, fields=list(APPLICATION_TYPE))


def _reasons(decided: DecisionColumns) -> pa.Array:
    # Each row's reasons in rank order, as ``DecisionColumns.answers`` lists them.
    # None (no reason at that rank) reads as NaN, and is left out by ``has_reason``.
    present_rows = np.asarray(decided.has_reason, dtype=bool).reshape(-1, MAX_REASONS)
    fields = np.asarray(decided.reason_fields).reshape(-1, MAX_REASONS)[present_rows]
    offsets = np.zeros(present_rows.shape[0] + 1, dtype=np.int32)
    np.cumsum(present_rows.sum(axis=1), out=offsets[1:])
    indices = pa.array(fields, type=pa.int32())
    flat = pa.StructArray.from_arrays(
        [
            pa.DictionaryArray.from_arrays(indices, _REASON_CODES),
            pa.DictionaryArray.from_arrays(indices, _REASON_FIELDS),
            pa.array(decided.contributions[present_rows], type=pa.float64()),
        ],
        names=list(REASON_FIELD_NAMES),
    )
    return pa.ListArray.from_arrays(pa.array(offsets), flat)


Columns = Callable[[], pa.Array]


def record_table(
    applications: Mapping[str, npt.ArrayLike],
    decided: DecisionColumns,
    *,
    endpoint: str,
    latency_ms: float,
    time: str | None = None,
    challengers: Sequence[Mapping[str, Any]] | None = None,
) -> pa.Table:
    """The records of a chunk's decisions as a table: a row per decision, a column per
    field of ``decision_record``, in its order (``challengers``: each decision's
    ``challenger`` field, the last, when a challenger scores in the shadow).

    ``applications``: the decided rows' fields column-wise (validated batch columns:
    numbers as float64 with NaN for missing, labels as str); ``decided``: their
    decisions; ``latency_ms`` and ``time`` (now unless given) are shared, as in
    ``decision_lines``.
    """
    count = len(decided.status)
    moment = time if time is not None else utc_timestamp()
    if count == 0:
        return pa.table({})

    def constant(value: Any) -> Columns:
        return lambda: repeated(value, count)

    known: dict[str, Columns] = {
        "decision_id": lambda: pa.array(decided.decision_id, type=pa.string()),
        "time": constant(moment),
        "model_tag": constant(decided.model_tag),
        "policy_version": constant(decided.policy_version),
        "endpoint": constant(endpoint),
        "application": lambda: _application(applications, count),
        "status": lambda: pa.array(decided.status, type=pa.string()),
        "default_probability": lambda: pa.array(
            np.asarray(decided.default_probability, dtype=np.float64)
        ),
        "score": lambda: pa.array(decided.score, type=pa.int64()),
        "reasons": lambda: _reasons(decided),
        "out_of_training_range": lambda: _out_of_training_range(decided),
        "latency_ms": constant(round(latency_ms, 3)),
    }
    # The field order, and any field not built here, from the one definition.
    sample = decision_record(
        _first_application(applications),
        _head(decided).answers()[0],
        endpoint=endpoint,
        latency_ms=latency_ms,
        time=moment,
    )
    columns: dict[str, pa.Array] = {}
    slow: list[dict[str, Any]] | None = None
    for name in sample:
        if name in known:
            columns[name] = known[name]()
            continue
        if slow is None:
            slow = _records(applications, decided, endpoint, latency_ms, moment)
        columns[name] = pa.array([record[name] for record in slow])
    if challengers is not None:
        columns["challenger"] = pa.array(list(challengers))
    return pa.table(columns)


def _out_of_training_range(decided: DecisionColumns) -> pa.Array:
    # Each row's flagged fields in field order, as ``DecisionColumns.out_of_training_range``.
    outside = np.asarray(decided.outside_training, dtype=bool)
    offsets = np.zeros(len(outside) + 1, dtype=np.int32)
    np.cumsum(outside.sum(axis=1), out=offsets[1:])
    flagged = pa.array(np.nonzero(outside)[1], type=pa.int32())
    return pa.ListArray.from_arrays(
        pa.array(offsets), pa.DictionaryArray.from_arrays(flagged, _NUMERIC_NAMES)
    )


def repeated(value: Any, count: int) -> pa.Array:
    """``value`` ``count`` times, a string as a one-word Arrow dictionary: a value shared
    by every row of a chunk (its time, model tag, endpoint), written without hashing."""
    if isinstance(value, str):
        return pa.DictionaryArray.from_arrays(pa.array(np.zeros(count, np.int32)), [value])
    return pa.repeat(pa.scalar(value), count)


def _first_application(applications: Mapping[str, npt.ArrayLike]) -> dict[str, Any]:
    head = {name: np.asarray(applications[name])[:1] for name in APPLICATION_FIELDS}
    return application_records(head)[0]


def _head(decided: DecisionColumns) -> DecisionColumns:
    """The first decision alone: every per-row field cut to its first row."""
    changes: dict[str, Any] = {}
    for field in dataclasses.fields(decided):
        value = getattr(decided, field.name)
        if isinstance(value, list | np.ndarray):
            changes[field.name] = value[:1]
    return dataclasses.replace(decided, **changes)


def _records(
    applications: Mapping[str, npt.ArrayLike],
    decided: DecisionColumns,
    endpoint: str,
    latency_ms: float,
    moment: str,
) -> list[dict[str, Any]]:
    return [
        decision_record(application, answer, endpoint=endpoint, latency_ms=latency_ms, time=moment)
        for application, answer in zip(
            application_records(applications), decided.answers(), strict=True
        )
    ]


def _dictionary_columns(schema: pa.Schema) -> list[str]:
    """Every string column but the ids, by its Parquet path: labels, tags, codes, the
    shared time. A dictionary for unique ids is wasted work (a fifth of the writing).
    Columns built as Arrow dictionaries (codes, field names, shared values) are written
    as they are, without hashing each value again."""
    paths: list[str] = []

    def visit(path: str, kind: pa.DataType) -> None:
        if pa.types.is_struct(kind):
            for child in kind:
                visit(f"{path}.{child.name}", child.type)
        elif pa.types.is_list(kind):
            visit(f"{path}.list.element", kind.value_type)
        elif pa.types.is_dictionary(kind) or (pa.types.is_string(kind) and path != "decision_id"):
            paths.append(path)

    for field in schema:
        visit(field.name, field.type)
    return paths


class RecordFiles:
    """Writes each chunk's records as one Parquet file under ``<monitoring_dir>/decisions/``:
    ``<host>-<pid>-<start>-<seq>.parquet``, made under a hidden name and renamed whole.

    ``write`` returns once the file is in place (and, with ``fsync``, on the disk with
    its name); it raises ``RecordsUnavailable`` when it is not (unless ``required`` is
    off: then the loss is logged and counted in ``lost``).
    """

    def __init__(
        self, monitoring_dir: str | Path, *, fsync: bool = False, required: bool = True
    ) -> None:
        """Write under ``monitoring_dir``; raises ``RecordsDirectoryError`` if unusable."""
        self.directory = check_directory(monitoring_dir)
        self.fsync = fsync
        self.required = required
        self.written = 0
        self.lost = 0
        self._sequence = 0
        self._pid = os.getpid()
        self._started = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        self._host = socket.gethostname().replace("/", "_") or "host"

    def write(self, table: pa.Table) -> None:
        """Write ``table`` (``record_table``'s) as one file, whole, or raise."""
        if table.num_rows == 0:
            return
        try:
            self._write(table)
        except OSError as error:
            if self.required:
                raise RecordsUnavailable(error.strerror or str(error)) from error
            self.lost += table.num_rows
            logger.error("Decision records lost (%d): %s", table.num_rows, error)
            return
        self.written += table.num_rows

    def _write(self, table: pa.Table) -> None:
        if os.getpid() != self._pid:  # forked: names of the child's own
            self._pid, self._sequence = os.getpid(), 0
        stem = f"{self._host}-{self._pid}-{self._started}"
        while True:
            # Another writer of this process started in the same second (a job run
            # twice) may hold a number: take the next, never overwrite a file.
            self._sequence += 1
            path = self.directory / f"{stem}-{self._sequence:06d}{COLUMNAR_SUFFIX}"
            if not path.exists():
                break
        hidden = path.with_name(f".{path.name}.tmp")
        try:
            # The file is made with the records' mode before pyarrow writes into it.
            os.close(
                os.open(hidden, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
            )
            pq.write_table(
                table,
                hidden,
                compression=COMPRESSION,
                use_dictionary=_dictionary_columns(table.schema),
                # Statistics cost 15% of the writing, and no reader filters on them.
                write_statistics=False,
                # Without the Arrow schema, the dictionaries read back as the plain
                # strings they stand for, as every other writer's records do.
                store_schema=False,
            )
            if self.fsync:
                fsync_path(hidden)
            os.rename(hidden, path)
            if self.fsync:
                fsync_path(self.directory)
        except (OSError, pa.ArrowException) as error:
            with contextlib.suppress(OSError):
                hidden.unlink()
            if isinstance(error, OSError):
                raise
            raise OSError(str(error)) from error

    def close(self) -> None:
        """Nothing stays open between chunks: every file is complete once written."""


BatchRecords = RecordWriter | RecordFiles
"""Where a batch run's records go: JSON lines (``RecordWriter``) or a file per chunk."""


def open_batch_records(
    config: RecordsConfig, *, columnar: bool = True, check: bool = True
) -> BatchRecords:
    """The records writer of a batch run: a Parquet file per chunk when records go to
    files and ``columnar`` (the default), else ``open_writer``'s JSON lines (standard
    output, or ``columnar`` off). Raises ``RecordsDirectoryError``."""
    if columnar and config["sink"] == "file":
        return RecordFiles(
            config["monitoring_dir"], fsync=config["fsync"], required=config["required"]
        )
    return open_writer(**config, check=check)


def write_chunk_records(
    records: BatchRecords,
    columns: Mapping[str, npt.ArrayLike],
    decided: DecisionColumns,
    *,
    endpoint: str,
    latency_ms: float,
    challengers: Sequence[Mapping[str, Any]] | None = None,
) -> int:
    """Write the records of a chunk's decisions, in ``records``' form (``challengers``:
    each decision's shadow score, as ``decision_lines`` takes them); returns how many.
    Raises ``RecordsUnavailable`` when they were not written (and are required)."""
    count = len(decided.status)
    if count == 0:
        return 0
    if isinstance(records, RecordFiles):
        records.write(
            record_table(
                columns, decided, endpoint=endpoint, latency_ms=latency_ms, challengers=challengers
            )
        )
    else:
        records.write_lines(
            decision_lines(
                application_records(columns),
                decided.answers(),
                endpoint=endpoint,
                latency_ms=latency_ms,
                challengers=challengers,
            )
        )
    return count
