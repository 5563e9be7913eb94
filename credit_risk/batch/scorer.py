"""The one batch scorer: a chunk of applications in, a chunk of decisions out.

Validation (``validation``), encoding (``features.encode_columns``), scoring
(``ServedModel.explain``) and deciding (``DecisionMaker.decide_columns``) are
the online code; this module only lays their results out as the columns of
``credit_risk.csv_format.DECISION_COLUMNS`` and as decision records.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa

from credit_risk.batch.ids import run_decision_ids
from credit_risk.batch.records import repeated
from credit_risk.batch.validation import validate_chunk
from credit_risk.csv_format import (
    DECISION_COLUMN_TYPES,
    DECISION_COLUMNS,
    INVALID_STATUS,
    RANGE_SEPARATOR,
    reason_column,
)
from credit_risk.decisions import DecisionColumns, DecisionMaker
from credit_risk.features import encode_columns
from credit_risk.model.shadow import BatchChallenger
from credit_risk.model.store import ServedModel
from credit_risk.reasons import FIELD_REASONS, MAX_REASONS
from credit_risk.schema import application_records
from credit_risk.vocabulary import APPLICATION_FIELDS, NUMERIC_FIELDS

_ARROW_TYPES: Final = {str: pa.string(), int: pa.int64(), float: pa.float64()}
DECISIONS_SCHEMA: Final = pa.schema(
    [pa.field(name, _ARROW_TYPES[kind]) for name, kind in DECISION_COLUMN_TYPES.items()]
)
"""The Arrow schema of a decisions file: ``DECISION_COLUMN_TYPES``, every column nullable."""

_LABEL_TYPE: Final = pa.dictionary(pa.int32(), pa.string())
_LABEL_COLUMNS: Final = frozenset(
    [
        "model_tag",
        "policy_version",
        *(
            reason_column(rank, part)
            for rank in range(1, MAX_REASONS + 1)
            for part in ("code", "field", "text")
        ),
    ]
)
DECISIONS_BATCH_SCHEMA: Final = pa.schema(
    [
        pa.field(field.name, _LABEL_TYPE) if field.name in _LABEL_COLUMNS else field
        for field in DECISIONS_SCHEMA
    ]
)
"""``ScoredChunk.decisions``' schema: ``DECISIONS_SCHEMA`` with the reasons' labels, the
model tag and the policy version as Arrow dictionaries (codes into a few strings). They
are written to Parquet as they are, without hashing each text, pickled between a batch
job's processes at half the size, and read back as ``DECISIONS_SCHEMA``'s strings
(``plain`` for any other use)."""

_REASON_LABELS: Final = {
    part: pa.array([reason[part] for reason in FIELD_REASONS], type=pa.string())
    for part in ("code", "field", "text")
}
"""Each label part of a reason per ``APPLICATION_FIELDS`` index: a dictionary's values."""


def plain(decisions: pa.RecordBatch) -> pa.RecordBatch:
    """``ScoredChunk.decisions`` with ``DECISIONS_SCHEMA``'s plain strings, for readers
    that do not take dictionaries (pandas would make them categories, Spark refuses them)."""
    return decisions.cast(DECISIONS_SCHEMA)


@dataclass(frozen=True)
class ScoredChunk:
    """One chunk's decisions (``DECISIONS_BATCH_SCHEMA``) and the material of their records."""

    decisions: pa.RecordBatch
    columns: dict[str, npt.NDArray[Any]]
    """The decided rows' applications column-wise (``ValidatedChunk.columns``), in order."""
    decided: DecisionColumns
    valid_rows: npt.NDArray[np.intp]
    """Positions in ``decisions`` of the decided (not ``INVALID``) rows."""
    challengers: list[dict[str, Any]] | None = None
    """With a challenger: each decided row's ``challenger`` record field."""

    @property
    def applications(self) -> list[dict[str, Any]]:
        """The decided rows' applications as the API logs them (a dict each: only for
        JSON records; the columnar ones are built from ``columns``)."""
        return application_records(self.columns)


@dataclass(frozen=True)
class BadRow:
    """A row that could not even be read (a CSV line with the wrong number of fields)."""

    row_id: int
    error: str


class BatchScorer:
    """Scores chunks with one stored model: validation, features, explainer, policy."""

    def __init__(self, served: ServedModel, challenger: BatchChallenger | None = None) -> None:
        """Score with ``served`` and decide by the policy stored with it; ``challenger``
        also scores every decided row, for the records only."""
        self.served = served
        self.challenger = challenger
        self.decider = DecisionMaker(
            model_tag=served.tag, policy=served.policy, training_ranges=served.training_ranges
        )

    def score(
        self,
        table: pa.Table | pa.RecordBatch,
        row_ids: npt.NDArray[np.int64],
        *,
        from_text: bool,
        bad_rows: Sequence[BadRow] = (),
        run_id: str | None = None,
    ) -> ScoredChunk:
        """Decide every row of ``table``; ``row_ids`` label them in the output.

        Rows failing validation come out with status ``INVALID`` and an ``error``;
        ``bad_rows`` (unreadable lines) are merged in by ``row_id``, so the output
        stays in input order. With ``run_id``, decision ids are the run's
        (``run_decision_ids`` of the row ids): scoring a row again in the same run
        gives it the same id; without, they are random.
        """
        checked = validate_chunk(table, from_text=from_text)
        features = encode_columns(checked.columns, label_codes=checked.label_codes)
        scored = (
            self.served.explain(features)
            if len(features)
            else np.zeros((0, len(APPLICATION_FIELDS) + 1), dtype=np.float32)
        )
        decided = self.decider.decide_columns(
            features,
            scored,
            None
            if run_id is None
            else run_decision_ids(run_id, np.asarray(row_ids)[checked.valid]),
        )
        valid = checked.valid
        ids = np.asarray(row_ids, dtype=np.int64)
        errors = [checked.errors.get(row) for row in range(len(valid))] if not valid.all() else None
        if bad_rows:
            ids = np.concatenate([ids, np.array([bad.row_id for bad in bad_rows], dtype=np.int64)])
            valid = np.concatenate([valid, np.zeros(len(bad_rows), dtype=bool)])
            errors = [*(errors or [None] * len(checked.valid)), *(bad.error for bad in bad_rows)]
        order = np.argsort(ids, kind="stable")
        ids, valid = ids[order], valid[order]
        if errors is not None:
            errors = [errors[i] for i in order.tolist()]
        batch = _decisions_batch(ids, valid, errors, decided, self.decider)
        return ScoredChunk(
            decisions=batch,
            columns=checked.columns,
            decided=decided,
            valid_rows=np.flatnonzero(valid),
            challengers=self.challenger.fields(features) if self.challenger else None,
        )

    def score_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """A pandas frame of applications in, a frame of ``DECISION_COLUMNS`` out.

        Column types are the values' types, as in a Parquet file; NaN in a float
        column means missing, as pandas means it.
        """
        table = pa.Table.from_pandas(frame, preserve_index=False)
        ids = np.arange(len(frame), dtype=np.int64)
        return plain(self.score(table, ids, from_text=False).decisions).to_pandas()


def _spread(values: pa.Array, positions: pa.Array | None) -> pa.Array:
    # Valid rows' values put back among the invalid rows, which get null; with none
    # invalid (``positions`` None), as they are: a take copied every reason's text.
    return values if positions is None else values.take(positions)


def _decisions_batch(
    ids: npt.NDArray[np.int64],
    valid: npt.NDArray[np.bool_],
    errors: list[str | None] | None,
    decided: DecisionColumns,
    decider: DecisionMaker,
) -> pa.RecordBatch:
    count = len(ids)
    positions = (
        None if valid.all() else pa.array(np.cumsum(valid) - 1, type=pa.int64(), mask=~valid)
    )
    decided_count = len(decided.status)
    status = pa.array(decided.status, type=pa.string())
    columns: dict[str, pa.Array] = {
        "row_id": pa.array(ids, type=pa.int64()),
        "status": _spread(status, positions).fill_null(INVALID_STATUS),
        "default_probability": _spread(pa.array(decided.default_probability), positions),
        "score": _spread(pa.array(decided.score, type=pa.int64()), positions),
        "out_of_training_range": _spread(_joined_ranges(decided), positions),
        "model_tag": _spread(repeated(decider.model_tag, decided_count), positions),
        "policy_version": _spread(repeated(decider.policy.version, decided_count), positions),
        "decision_id": _spread(pa.array(decided.decision_id, type=pa.string()), positions),
        "error": pa.nulls(count, pa.string())
        if errors is None
        else pa.array(errors, type=pa.string()),
    }
    for rank in range(MAX_REASONS):
        fields = decided.reason_fields[:, rank] if decided_count else np.zeros(0, dtype=np.intp)
        missing = ~decided.has_reason[:, rank] if decided_count else np.zeros(0, dtype=bool)
        indices = pa.array(fields, type=pa.int32(), mask=missing)
        for part, labels in _REASON_LABELS.items():
            columns[reason_column(rank + 1, part)] = _spread(
                pa.DictionaryArray.from_arrays(indices, labels), positions
            )
        columns[reason_column(rank + 1, "contribution")] = _spread(
            pa.array(decided.contributions[:, rank], type=pa.float64(), mask=missing), positions
        )
    return pa.RecordBatch.from_arrays(
        [columns[name] for name in DECISION_COLUMNS], schema=DECISIONS_BATCH_SCHEMA
    )


def _joined_ranges(decided: DecisionColumns) -> pa.Array:
    # Most rows flag nothing: those get "" without a Python string each.
    flagged = np.asarray(decided.outside_training, dtype=bool).any(axis=1)
    joined = np.full(len(flagged), "", dtype=object)
    for row in np.flatnonzero(flagged).tolist():
        fields = np.flatnonzero(decided.outside_training[row]).tolist()
        joined[row] = RANGE_SEPARATOR.join(NUMERIC_FIELDS[column] for column in fields)
    return pa.array(joined, type=pa.string())
