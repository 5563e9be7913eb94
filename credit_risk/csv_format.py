"""Applications and decisions as CSV: the one meaning of a cell and the one decision layout.

Shared by ``POST /classify_csv`` (stdlib ``csv``: the service carries no
pyarrow) and the batch scorer (``credit_risk.batch``, pyarrow), so a file means
the same thing to both and their answers have the same columns
(``DECISION_COLUMN_TYPES``; ``decision_row`` writes one, ``decision_from_row``
reads it back, as SageMaker's adapter does).

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
from collections import Counter
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

REASON_PARTS: Final[dict[str, type]] = {
    "code": str,
    "field": str,
    "text": str,
    "contribution": float,
}
"""A ``Reason``'s fields, in its order, and the type of each one's column."""


def reason_column(rank: int, part: str) -> str:
    """The column of one part of the reason of ``rank`` (1 to ``MAX_REASONS``)."""
    return f"reason_{rank}_{part}"


DECISION_COLUMN_TYPES: Final[dict[str, type]] = {
    "row_id": int,
    "status": str,
    "default_probability": float,
    "score": int,
    **{
        reason_column(rank, part): kind
        for rank in range(1, MAX_REASONS + 1)
        for part, kind in REASON_PARTS.items()
    },
    "out_of_training_range": str,
    "model_tag": str,
    "policy_version": str,
    "decision_id": str,
    "error": str,
}
"""Columns of a decisions file, in order, each with the type of its values (any may be
empty): the online ``Decision`` flattened, reasons as ``reason_N_*``, plus the input's
``row_id`` and, for ``INVALID`` rows, the ``error``. The batch scorer's Arrow schema is
derived from it."""
DECISION_COLUMNS: Final[tuple[str, ...]] = tuple(DECISION_COLUMN_TYPES)
"""The names of ``DECISION_COLUMN_TYPES``, in order."""

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


class CsvTooManyRowsError(CsvError):
    """A CSV body with more applications than one request may hold (answered 413)."""

    def __init__(self, max_rows: int) -> None:
        """``max_rows``: the limit the body passed (``CREDIT_RISK_MAX_CSV_ROWS``)."""
        super().__init__(
            [
                CsvProblem(
                    1,
                    None,
                    f"more than {max_rows:,} applications in one request; send at most "
                    f"{max_rows:,} rows per request (split the file), or use score.py for "
                    "a whole portfolio",
                )
            ]
        )
        self.max_rows = max_rows


def header_problems(header: Sequence[str], line: int = 1) -> list[CsvProblem]:
    """What is wrong with a header: missing, unknown or repeated application fields.

    Linear in the header's length: each name is counted once (``Counter``) and looked
    up in sets, so a hostile header of many thousand names costs milliseconds (counting
    each name over the whole header took 8.2 s for 16,000 names).
    """
    problems = []
    counts = Counter(header)
    if len(counts) != len(header):
        repeated = sorted(name for name, count in counts.items() if count > 1)
        problems.append(CsvProblem(line, None, f"repeated columns {_names(repeated)}"))
    known = frozenset(APPLICATION_FIELDS)
    missing = [name for name in APPLICATION_FIELDS if name not in counts]
    unknown = [name for name in counts if name not in known]
    if missing:
        problems.append(CsvProblem(line, None, f"missing columns {missing}"))
    if unknown:
        problems.append(
            CsvProblem(
                line,
                None,
                f"unknown columns {_names(unknown)} (expected {list(APPLICATION_FIELDS)})",
            )
        )
    return problems


MAX_NAMED_COLUMNS: Final = 20
"""A refusal names at most this many columns, and counts the rest: an answer to a
16,000-column header stays a few hundred bytes."""


def _names(names: Sequence[str]) -> str:
    shown = list(names[:MAX_NAMED_COLUMNS])
    more = len(names) - len(shown)
    return f"{shown} (+{more} more)" if more else str(shown)


def validation_problems(error: ValidationError, line: int) -> list[CsvProblem]:
    """Pydantic's errors for one row, as problems naming its line and columns."""
    return [
        CsvProblem(line, ".".join(map(str, problem["loc"])) or None, problem["msg"])
        for problem in error.errors(include_url=False, include_context=False, include_input=False)
    ]


def describe_errors(error: ValidationError, *, whole: str = "row", limit: int | None = None) -> str:
    """One row's validation errors as ``field: message; field: message``.

    ``whole`` names an error of the whole input (no field); with ``limit``, at most
    that many are named and the rest counted: ``a: ...; b: ... (+3 more)``.
    """
    problems = error.errors(include_url=False, include_context=False, include_input=False)
    named = "; ".join(
        f"{'.'.join(map(str, problem['loc'])) or whole}: {problem['msg']}"
        for problem in problems[:limit]
    )
    more = len(problems) - len(problems[:limit])
    return f"{named} (+{more} more)" if more else named


def read_applications(body: str, *, max_rows: int | None = None) -> list[CreditApplication]:
    """Parse and validate a CSV body with a header line, by the API's rules.

    Raises ``CsvError`` naming every bad line and column (at most the first
    hundred problems), or saying that the body has no header or no rows;
    ``CsvTooManyRowsError`` as soon as the body holds more than ``max_rows`` applications
    (blank lines not counted), before reading the rest.
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
        count = 0
        for fields in rows:
            line = rows.line_num
            if not fields:
                continue  # a blank line, such as the one after the last row
            count += 1
            if max_rows is not None and count > max_rows:
                raise CsvTooManyRowsError(max_rows)
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
        for part in REASON_PARTS:
            row[reason_column(rank, part)] = reason[part] if reason else None
    return row


def decision_from_row(row: Mapping[str, str]) -> dict[str, Any]:
    """A row of ``DECISION_COLUMNS`` as CSV text (``csv.DictReader``'s) back into the
    JSON form of the decision it was written from: ``decision_row``'s inverse (Python's
    CSV writes floats by ``repr``, which reads back exactly)."""
    reasons = [
        {part: kind(row[reason_column(rank, part)]) for part, kind in REASON_PARTS.items()}
        for rank in range(1, MAX_REASONS + 1)
        if row[reason_column(rank, "code")]
    ]
    ranges = row["out_of_training_range"]
    return {
        "status": row["status"],
        "default_probability": float(row["default_probability"]),
        "score": int(row["score"]),
        "reasons": reasons,
        "out_of_training_range": ranges.split(RANGE_SEPARATOR) if ranges else [],
        "model_tag": row["model_tag"],
        "policy_version": row["policy_version"],
        "decision_id": row["decision_id"],
    }


def write_decisions(rows: Iterable[Mapping[str, Any]]) -> str:
    """Rows of ``DECISION_COLUMNS`` as CSV text with a header; ``None`` is an empty cell."""
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, fieldnames=DECISION_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
