"""Every answer the service builds itself, as a Starlette ``Response``.

JSON is written by orjson throughout: compact, UTF-8, and ``NaN`` as ``null`` (no
answer carries a float that could be one). An error is ``{"error": ...}``, with
``detail`` when there is one per problem, the shape of BentoML's own errors.

* ``decisions_json``: a decision endpoint's 200, from the JSON form of its declared model;
* ``json_bytes``: a 200 whose JSON is written already (``/classify_batch``'s, column-wise);
* ``decisions_csv``: ``/classify_csv``'s 200, ``text/csv`` in ``DECISION_COLUMNS``;
* ``csv_refusal``: ``/classify_csv``'s 400, naming the lines and columns at fault;
* ``suspended``: the 503 of a decision refused for want of its record, with Retry-After;
* ``refusal``: a middleware's own error answer (the guard's 400, 401, 413, 415).

An endpoint returns these in place of its declared model, typed ``Answer``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final, TypeAlias

import orjson
from starlette.responses import Response

from credit_risk.csv_format import CSV_MEDIA_TYPE, CsvError, decision_row, write_decisions
from credit_risk.records import RecordsUnavailable

JSON_MEDIA_TYPE: Final = "application/json"

RETRY_AFTER_S: Final = 5
"""What a decision refused for want of its record tells the client to wait."""

Answer: TypeAlias = Any
"""What an endpoint returns instead of its declared model: a ``Response``, which BentoML
sends as it is (``_bentoml_impl/server/app.py``); typed ``Any`` because the endpoint keeps
the pydantic model BentoML writes the OpenAPI document from as its return annotation."""


def json_response(
    content: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    """``content`` as a JSON answer."""
    return Response(
        orjson.dumps(content), status_code=status, headers=headers, media_type=JSON_MEDIA_TYPE
    )


def refusal(
    status: int,
    error: str,
    headers: Mapping[str, str] | None = None,
    detail: list[dict[str, Any]] | None = None,
) -> Response:
    """An error answer: ``{"error": error}``, and ``detail`` when given."""
    content: dict[str, Any] = {"error": error}
    if detail is not None:
        content["detail"] = detail
    return json_response(content, status, headers)


def decisions_json(content: dict[str, Any]) -> Answer:
    """A decision endpoint's 200: ``content`` is the JSON form of its declared model."""
    # Serialised here rather than by BentoML: its output path rebuilds the output
    # JSON schema on every response (~5% of CPU), and orjson writes 1,000 decisions
    # in a third of pydantic-core's time.
    return json_response(content)


def json_bytes(content: bytes) -> Answer:
    """A 200 whose JSON is written already (``decision_json.answers_json``)."""
    return Response(content, media_type=JSON_MEDIA_TYPE)


def decisions_csv(decisions: Sequence[Mapping[str, Any]]) -> Answer:
    """Decisions in their JSON form as ``text/csv`` in ``DECISION_COLUMNS``, in the
    order of the body's rows."""
    rows = (decision_row(row_id, decision) for row_id, decision in enumerate(decisions))
    return Response(write_decisions(rows), media_type=CSV_MEDIA_TYPE)


def csv_refusal(error: CsvError) -> Answer:
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
    return refusal(400, f"Invalid CSV: {error}", detail=detail)


def suspended(refused: RecordsUnavailable) -> Answer:
    """The 503 of a decision whose record could not be written: retry shortly."""
    # Logged once per change of state by the records writer, not here per request.
    return refusal(503, str(refused), {"Retry-After": str(RETRY_AFTER_S)})
