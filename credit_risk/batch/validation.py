"""Validating a chunk of applications column by column, by the API's rules.

A chunk arrives as Arrow columns, either typed (Parquet, a pandas frame) or as
CSV text. Each cell is first classified the way the API's JSON parser would
see it (null, integer, number, or something else), then checked against the
field's ``FieldRule`` with numpy. Rows that fail are validated once more by
``CreditApplication`` itself, so their ``error`` is the API's message.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import ValidationError

from credit_risk.csv_format import (
    INTEGER_PATTERN,
    NUMBER_PATTERN,
    cell_value,
    describe_errors,
    header_problems,
)
from credit_risk.rules import FIELD_RULES, FieldRule
from credit_risk.schema import CreditApplication
from credit_risk.vocabulary import APPLICATION_FIELDS, CATEGORIES, NUMERIC_FIELDS

NULL: Final = 0
INTEGER: Final = 1
NUMBER: Final = 2
OTHER: Final = 3
"""How the API's JSON parser would see a cell: null, an integer, a non-integer number,
or anything else (a string, a boolean, an integer too long to check here)."""

_MAX_INTEGER_DIGITS: Final = 15
"""Longer integers are left to pydantic: below 2**53 every integer is exact as float64."""

_LABEL_OBJECTS: Final = {
    name: np.array(labels, dtype=object) for name, labels in CATEGORIES.items()
}
_LABEL_VALUES: Final = {name: pa.array(labels, pa.string()) for name, labels in CATEGORIES.items()}
"""Each categorical field's labels, in ``CATEGORIES`` order: as Python strings (the
valid rows' label columns share them) and as Arrow's (to find the codes)."""


class ColumnsError(ValueError):
    """The columns of a file are not the application's fields."""


def check_columns(names: Sequence[str]) -> None:
    """Refuse missing, unknown or repeated columns, as the API refuses such fields."""
    if problems := header_problems(list(names)):
        raise ColumnsError("; ".join(problem.message for problem in problems))


@dataclass(frozen=True)
class Cells:
    """One column as the API would see it: a kind per cell, and numbers as float64."""

    kinds: npt.NDArray[np.uint8]
    numbers: npt.NDArray[np.float64]
    labels: pa.Array | None
    source: pa.Array

    def python_value(self, row: int, from_text: bool) -> Any:
        """The cell as the JSON value the API would receive (for pydantic's message)."""
        value = self.source[row].as_py()
        if from_text:
            return cell_value(value)
        return float(value) if isinstance(value, Decimal) else value


def _text_cells(column: pa.Array, rule: FieldRule) -> Cells:
    text = column.cast(pa.string())
    present = pc.fill_null(pc.not_equal(text, ""), False)
    if rule.kind == "label":
        kinds = np.where(present.to_numpy(zero_copy_only=False), OTHER, NULL).astype(np.uint8)
        return Cells(kinds, np.full(len(column), np.nan), text, column)

    def matches(pattern: str) -> npt.NDArray[np.bool_]:
        found = pc.fill_null(pc.match_substring_regex(text, f"^{pattern}$"), False)
        return np.asarray(found.to_numpy(zero_copy_only=False), dtype=bool)

    integer = matches(INTEGER_PATTERN)
    digits = pc.fill_null(pc.utf8_length(pc.utf8_ltrim(text, "-")), 0)
    short = np.asarray(digits.to_numpy(zero_copy_only=False)) <= _MAX_INTEGER_DIGITS
    # A long integer is a number to JSON, but its checks are left to pydantic.
    number = matches(NUMBER_PATTERN) & ~(integer & ~short)
    kinds = np.full(len(column), OTHER, dtype=np.uint8)
    kinds[~present.to_numpy(zero_copy_only=False)] = NULL
    kinds[number] = NUMBER
    kinds[integer & short] = INTEGER
    parseable = pc.if_else(pa.array(number), text, pa.scalar(None, pa.string()))
    numbers = parseable.cast(pa.float64()).to_numpy(zero_copy_only=False)
    return Cells(kinds, np.asarray(numbers, dtype=np.float64), None, column)


def _typed_cells(column: pa.Array, rule: FieldRule) -> Cells:
    kind_of_type = column.type
    if pa.types.is_dictionary(kind_of_type):
        column = column.cast(kind_of_type.value_type)
        kind_of_type = column.type
    valid = column.is_valid().to_numpy(zero_copy_only=False)
    kinds = np.full(len(column), OTHER, dtype=np.uint8)
    numbers = np.full(len(column), np.nan)
    labels = None
    if rule.kind == "label":
        if pa.types.is_string(kind_of_type) or pa.types.is_large_string(kind_of_type):
            labels = column.cast(pa.string())
    elif pa.types.is_integer(kind_of_type):
        # Unsafe: past 2**53 a float64 is inexact, but every bound is far below that.
        kinds[:] = INTEGER
        numbers = column.cast(pa.float64(), safe=False).to_numpy(zero_copy_only=False)
    elif pa.types.is_floating(kind_of_type) or pa.types.is_decimal(kind_of_type):
        kinds[:] = NUMBER
        numbers = column.cast(pa.float64(), safe=False).to_numpy(zero_copy_only=False)
    kinds[~valid] = NULL
    return Cells(kinds, np.asarray(numbers, dtype=np.float64), labels, column)


def _accepted(cells: Cells, rule: FieldRule) -> npt.NDArray[np.bool_]:
    if rule.kind == "label":
        labels = cells.labels if cells.labels is not None else cells.source
        if not (pa.types.is_string(labels.type) or pa.types.is_large_string(labels.type)):
            ok = np.zeros(len(cells.kinds), dtype=bool)
        else:
            ok = pc.fill_null(pc.is_in(labels, pa.array(rule.labels)), False).to_numpy(
                zero_copy_only=False
            )
    else:
        allowed = (INTEGER,) if rule.kind == "integer" else (INTEGER, NUMBER)
        ok = np.isin(cells.kinds, allowed) & np.isfinite(cells.numbers)
        values = cells.numbers
        with np.errstate(invalid="ignore"):
            if rule.minimum is not None:
                ok &= values >= rule.minimum
            if rule.exclusive_minimum is not None:
                ok &= values > rule.exclusive_minimum
            if rule.maximum is not None:
                ok &= values <= rule.maximum
            if rule.exclusive_maximum is not None:
                ok &= values < rule.exclusive_maximum
    if rule.nullable:
        ok |= cells.kinds == NULL
    return np.asarray(ok, dtype=bool)


@dataclass(frozen=True)
class ValidatedChunk:
    """A chunk after validation: which rows passed, why the others failed, and the
    passing rows' fields ready for ``encode_columns`` and for decision records."""

    valid: npt.NDArray[np.bool_]
    errors: dict[int, str]
    """Row index within the chunk -> ``field: message; ...`` (the API's messages)."""
    columns: dict[str, npt.NDArray[Any]]
    """The valid rows only: numeric fields as float64 (NaN for null), labels as str."""
    label_codes: dict[str, npt.NDArray[np.int32]] = field(default_factory=dict)
    """The valid rows' labels again, as positions in ``CATEGORIES[field]``, for
    ``encode_columns(label_codes=...)``."""


def validate_chunk(table: pa.Table | pa.RecordBatch, *, from_text: bool) -> ValidatedChunk:
    """Validate every row of ``table`` (columns named as the application's fields).

    ``from_text`` says that cells are CSV text, read as ``credit_risk.csv_format``
    defines; otherwise the column types are the values' types.
    """
    check_columns(table.column_names)
    cells: dict[str, Cells] = {}
    valid = np.ones(table.num_rows, dtype=bool)
    for name in APPLICATION_FIELDS:
        column = table.column(name)
        if isinstance(column, pa.ChunkedArray):
            column = column.combine_chunks()
        rule = FIELD_RULES[name]
        cells[name] = (_text_cells if from_text else _typed_cells)(column, rule)
        valid &= _accepted(cells[name], rule)
    errors: dict[int, str] = {}
    for row in np.flatnonzero(~valid).tolist():
        application = {
            name: cells[name].python_value(row, from_text) for name in APPLICATION_FIELDS
        }
        try:
            CreditApplication.model_validate(application)
        except ValidationError as error:
            errors[row] = describe_errors(error)
        else:
            raise AssertionError(
                f"the batch rules refused row {row}, which the API accepts: {application}"
            )
    columns: dict[str, npt.NDArray[Any]] = {}
    label_codes: dict[str, npt.NDArray[np.int32]] = {}
    for name in APPLICATION_FIELDS:
        if name in NUMERIC_FIELDS:
            columns[name] = cells[name].numbers[valid]
        else:
            labels = cells[name].labels if cells[name].labels is not None else cells[name].source
            label_codes[name] = _codes(name, labels.filter(pa.array(valid)))
            # The vocabulary's own strings, shared: no new str per cell (0.24 µs a row).
            columns[name] = _LABEL_OBJECTS[name][label_codes[name]]
    return ValidatedChunk(valid=valid, errors=errors, columns=columns, label_codes=label_codes)


def _codes(name: str, labels: pa.Array) -> npt.NDArray[np.int32]:
    """Accepted labels as their positions in ``CATEGORIES[name]``."""
    if not len(labels):  # also a column of another type, whose every row was refused
        return np.zeros(0, dtype=np.int32)
    codes = pc.index_in(labels, value_set=_LABEL_VALUES[name])
    if codes.null_count:  # the rules accepted a label the encoding does not know
        raise AssertionError(f"{name}: accepted labels outside CATEGORIES[{name!r}]")
    return np.asarray(codes.to_numpy(zero_copy_only=False), dtype=np.int32)
