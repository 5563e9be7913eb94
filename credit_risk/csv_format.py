"""Applications and decisions as CSV: the one meaning of a cell and the one decision layout.

Shared by ``POST /classify_csv`` (stdlib ``csv``: the service carries no
pyarrow) and the batch scorer (``credit_risk.batch``, pyarrow), so a file means
the same thing to both and their answers have the same columns.

A CSV cell means what the same characters would mean as a JSON value in
``/classify``, except that an empty cell is ``null`` and any other text that
is not a JSON number is a string: ``3`` is an integer, ``3.0`` and ``1e3`` are
numbers (not integers), `` 3`` or ``NaN`` are strings, which numeric fields
refuse. The API's validation then applies unchanged.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from pydantic import ValidationError

from credit_risk.reasons import MAX_REASONS
from credit_risk.schema import CreditApplication
from credit_risk.vocabulary import APPLICATION_FIELDS

CSV_MEDIA_TYPE: Final = "text/csv"

INTEGER_PATTERN: Final = r"-?(?:0|[1-9][0-9]*)"
"""JSON's integer grammar: no sign but minus, no leading zero."""
NUMBER_PATTERN: Final = r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?"
"""JSON's number grammar; the same regular expression runs in Python and in pyarrow (RE2)."""
_INTEGER: Final = re.compile(INTEGER_PATTERN)
_NUMBER: Final = re.compile(NUMBER_PATTERN)

REASON_COLUMNS: Final[tuple[str, ...]] = tuple(
    f"reason_{rank}_{part}"
    for rank in range(1, MAX_REASONS + 1)
    for part in ("code", "field", "text", "contribution")
)
DECISION_COLUMNS: Final[tuple[str, ...]] = (
    "row_id",
    "status",
    "default_probability",
    "score",
    *REASON_COLUMNS,
    "out_of_training_range",
    "model_tag",
    "policy_version",
    "decision_id",
    "error",
)
"""Columns of a decisions file, in order: the online ``Decision`` flattened, reasons as
``reason_N_*``, plus the input's ``row_id`` and, for ``INVALID`` rows, the ``error``."""

INVALID_STATUS: Final = "INVALID"
"""The status of a row that failed validation; its ``error`` says which field and why."""
RANGE_SEPARATOR: Final = ";"
"""Joins the fields of ``out_of_training_range`` in one cell."""


def cell_value(text: str | None) -> Any:
    """The JSON value a CSV cell stands for: ``None``, an ``int``, a ``float`` or the text."""
    if text is None or text == "":
        return None
    if _INTEGER.fullmatch(text):
        return int(text)
    if _NUMBER.fullmatch(text):
        return float(text)
    return text


@dataclass(frozen=True)
class CsvProblem:
    """Where a CSV body is wrong: its 1-based line, the column if one, and what is wrong."""

    line: int
    column: str | None
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" + (f", column {self.column!r}" if self.column else "")
        return f"{where}: {self.message}"


class CsvError(ValueError):
    """A CSV body that cannot be decided; ``problems`` name each line and column."""

    def __init__(self, problems: Sequence[CsvProblem]) -> None:
        super().__init__("; ".join(str(problem) for problem in problems[:5]))
        self.problems = list(problems)


def header_problems(header: Sequence[str], line: int = 1) -> list[CsvProblem]:
    """What is wrong with a header: missing, unknown or repeated application fields."""
    problems = []
    if len(set(header)) != len(header):
        repeated = sorted({name for name in header if list(header).count(name) > 1})
        problems.append(CsvProblem(line, None, f"repeated columns {repeated}"))
    missing = [name for name in APPLICATION_FIELDS if name not in header]
    unknown = [name for name in header if name not in APPLICATION_FIELDS]
    if missing:
        problems.append(CsvProblem(line, None, f"missing columns {missing}"))
    if unknown:
        problems.append(
            CsvProblem(
                line, None, f"unknown columns {unknown} (expected {list(APPLICATION_FIELDS)})"
            )
        )
    return problems


def validation_problems(error: ValidationError, line: int) -> list[CsvProblem]:
    """Pydantic's errors for one row, as problems naming its line and columns."""
    return [
        CsvProblem(line, ".".join(map(str, problem["loc"])) or None, problem["msg"])
        for problem in error.errors(include_url=False, include_context=False, include_input=False)
    ]


def describe_errors(error: ValidationError) -> str:
    """One row's validation errors as ``field: message; field: message``."""
    return "; ".join(
        f"{'.'.join(map(str, problem['loc'])) or 'row'}: {problem['msg']}"
        for problem in error.errors(include_url=False, include_context=False, include_input=False)
    )


def read_applications(body: str) -> list[CreditApplication]:
    """Parse and validate a CSV body with a header line, by the API's rules.

    Raises ``CsvError`` naming every bad line and column (at most the first
    hundred problems), or saying that the body has no header or no rows.
    """
    rows = csv.reader(io.StringIO(body, newline=""), strict=True)
    try:
        header = next(rows, None)
        if header is None:
            raise CsvError([CsvProblem(1, None, "the body is empty; send a header line first")])
        if problems := header_problems(header):
            raise CsvError(problems)
        applications: list[CreditApplication] = []
        problems = []
        for fields in rows:
            line = rows.line_num
            if not fields:
                continue  # a blank line, such as the one after the last row
            if len(fields) != len(header):
                problems.append(
                    CsvProblem(
                        line, None, f"{len(fields)} fields where the header has {len(header)}"
                    )
                )
            else:
                row = {name: cell_value(text) for name, text in zip(header, fields, strict=True)}
                try:
                    applications.append(CreditApplication.model_validate(row))
                except ValidationError as error:
                    problems.extend(validation_problems(error, line))
            if len(problems) >= 100:
                break
    except csv.Error as error:
        raise CsvError([CsvProblem(rows.line_num, None, f"not valid CSV ({error})")]) from error
    if problems:
        raise CsvError(problems)
    if not applications:
        raise CsvError([CsvProblem(1, None, "a header but no applications")])
    return applications


def decision_row(row_id: int, decision: Mapping[str, Any]) -> dict[str, Any]:
    """One decision in its JSON form (``Decision.model_dump()``) as a row of
    ``DECISION_COLUMNS``."""
    row: dict[str, Any] = {
        "row_id": row_id,
        "status": decision["status"],
        "default_probability": decision["default_probability"],
        "score": decision["score"],
        "out_of_training_range": RANGE_SEPARATOR.join(decision["out_of_training_range"]),
        "model_tag": decision["model_tag"],
        "policy_version": decision["policy_version"],
        "decision_id": decision["decision_id"],
        "error": None,
    }
    reasons = decision["reasons"]
    for rank in range(1, MAX_REASONS + 1):
        reason = reasons[rank - 1] if rank <= len(reasons) else None
        for part in ("code", "field", "text", "contribution"):
            row[f"reason_{rank}_{part}"] = reason[part] if reason else None
    return row


def write_decisions(rows: Iterable[Mapping[str, Any]]) -> str:
    """Rows of ``DECISION_COLUMNS`` as CSV text with a header; ``None`` is an empty cell."""
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, fieldnames=DECISION_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
