"""``POST /classify_csv``'s request body, as BentoML 1.4 lets an API take raw bytes.

A new-style API's input is a pydantic model that BentoML parses as JSON;
``CsvBody`` is an ``IODescriptor`` whose ``from_http_request`` hands over the
body as text instead. The parsing and validation are ``credit_risk.csv_format``'s,
the answers ``credit_risk.serving.responses``'.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Final

import bentoml

from credit_risk.csv_format import CSV_MEDIA_TYPE
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
