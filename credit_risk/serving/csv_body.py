"""``POST /classify_csv``'s request body and answers, as BentoML 1.4 lets an API take raw bytes.

A new-style API's input is a pydantic model that BentoML parses as JSON;
``CsvBody`` is an ``IODescriptor`` whose ``from_http_request`` hands over the
body as text instead. The parsing and validation are ``credit_risk.csv_format``'s.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Final

import bentoml
from starlette.responses import Response

from credit_risk.csv_format import (
    CSV_MEDIA_TYPE,
    CsvError,
    decision_row,
    write_decisions,
)
from credit_risk.schema import COURSE_EXAMPLE
from credit_risk.vocabulary import APPLICATION_FIELDS

if TYPE_CHECKING:
    from starlette.requests import Request

CSV_ROUTE: Final = "/classify_csv"
CSV_EXAMPLE: Final = (
    ",".join(APPLICATION_FIELDS)
    + "\n"
    + ",".join(str(COURSE_EXAMPLE[name]) for name in APPLICATION_FIELDS)
    + "\n"
)
"""The course's application as a CSV body, for the API document."""


class CsvBody(bentoml.IODescriptor):
    """A ``text/csv`` body: a header line naming the 13 fields, then one application a line."""

    media_type: ClassVar[str | None] = CSV_MEDIA_TYPE
    csv: str

    @classmethod
    async def from_http_request(cls, request: Request, serde: Any) -> CsvBody:
        """The body as text; a byte-order mark is dropped, undecodable bytes become U+FFFD
        (and then fail validation in the cell they spoil, naming its line and column)."""
        body = await request.body()
        return cls(csv=body.decode("utf-8-sig", errors="replace"))


def csv_refusal(error: CsvError) -> Response:
    """The 400 for a bad CSV body: ``error`` names the first lines and columns, ``detail``
    has one ``{loc: [line, column], msg, type}`` per problem, as for JSON bodies."""
    detail = [
        {
            "loc": [problem.line, *([problem.column] if problem.column else [])],
            "msg": problem.message,
            "type": "csv",
        }
        for problem in error.problems
    ]
    body = {"error": f"Invalid CSV: {error}", "detail": detail}
    return Response(json.dumps(body), status_code=400, media_type="application/json")


def csv_decisions(decisions: Sequence[Mapping[str, Any]]) -> Response:
    """Decisions in their JSON form as ``text/csv`` in ``DECISION_COLUMNS``, in the
    order of the body's rows."""
    rows = (decision_row(row_id, decision) for row_id, decision in enumerate(decisions))
    return Response(write_decisions(rows), media_type=CSV_MEDIA_TYPE)
