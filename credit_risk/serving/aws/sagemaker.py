"""SageMaker's container contract, mapped onto the service's own endpoints.

SageMaker starts an inference image as ``docker run IMAGE serve`` (the bento's
entrypoint runs ``bentoml serve``; the model's ``PORT=8080`` moves it to the
port SageMaker calls) and then speaks to it on three paths, which
``SageMakerAdapter``, an ASGI middleware outside every other, registered only
when ``CREDIT_RISK_SAGEMAKER`` is on, answers:

* ``GET /ping``: the service's ``/readyz`` (200 once the model is loaded);
* ``GET /execution-parameters``: what batch transform may send (payload size,
  batch strategy, concurrency);
* ``POST /invocations``: rewritten to the endpoint that already decides that
  body, ``/classify`` (one JSON application), ``/classify_batch`` (JSON
  ``{"applications": [...]}`` or a JSON list) or ``/classify_csv`` (``text/csv``),
  and then handled as any request: API key, content type, body limit,
  validation, decision records. No decision code lives here.

CSV bodies come as batch transform sends them with ``SplitType=Line``: one
application a line in the course's column order, the file's header line only in
the first payload, if the file has one. A body without a header gets the
columns' header before it goes to ``/classify_csv``; its answer then loses the
decisions' header line, and line numbers in a 400 count the body's own lines.
So the answer has a header line exactly when the body had one, and batch
transform's ``AssembleWith=Line`` output has one decision line per input line.

``Accept`` picks the answer's type; the request is decided by the endpoint of
its body's type, inside the guards, and only the answer is converted: CSV
decisions read back into ``/classify_batch``'s JSON, JSON decisions written with
``/classify_csv``'s own writer.
"""

from __future__ import annotations

import csv
import io
import json
import math
from typing import Any, Final

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Receive, Scope, Send

from credit_risk.csv_format import (
    CsvError,
    CsvProblem,
    decision_from_row,
    decision_row,
    write_decisions,
)
from credit_risk.schema import BatchDecisions
from credit_risk.serving.asgi import Rewrite, read_body, replay_body, rewriting, with_content_length
from credit_risk.serving.csv_body import CSV_ROUTE
from credit_risk.serving.responses import csv_refusal, json_response, refusal
from credit_risk.vocabulary import APPLICATION_FIELDS

PING_PATH: Final = "/ping"
INVOCATIONS_PATH: Final = "/invocations"
EXECUTION_PARAMETERS_PATH: Final = "/execution-parameters"
READY_PATH: Final = "/readyz"

JSON_TYPE: Final = "application/json"
CSV_TYPE: Final = "text/csv"
MIB: Final = 1024 * 1024
HEADER_LINE: Final = ",".join(APPLICATION_FIELDS) + "\n"
"""The header a headerless CSV body gets: the course's columns, in their order."""


class SageMakerAdapter:
    """ASGI middleware: SageMaker's ``/ping``, ``/invocations``, ``/execution-parameters``."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, max_concurrency: int) -> None:
        """Adapt ``app``.

        Args:
            app: the service's ASGI app, with its guards.
            max_body_bytes: the service's body limit, declared to batch transform.
            max_concurrency: concurrent requests batch transform may send (API workers).
        """
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_concurrency = max_concurrency

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer or rewrite SageMaker's paths; pass everything else on."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route = (scope["method"], scope["path"])
        if route == ("GET", PING_PATH):
            await self.app(_rewritten(scope, READY_PATH), receive, send)
        elif route == ("GET", EXECUTION_PARAMETERS_PATH):
            await json_response(self.execution_parameters())(scope, receive, send)
        elif route == ("POST", INVOCATIONS_PATH):
            await self._invoke(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    def execution_parameters(self) -> dict[str, Any]:
        """What ``GET /execution-parameters`` declares to batch transform.

        Batch transform's payload unit is a whole MB, at least 1: the largest
        that fits the body limit. ``MULTI_RECORD`` packs lines into a payload.
        """
        return {
            "MaxConcurrentTransforms": self.max_concurrency,
            "BatchStrategy": "MULTI_RECORD",
            "MaxPayloadInMB": max(1, math.floor(self.max_body_bytes / MIB)),
        }

    async def _invoke(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = Headers(scope=scope)
        csv_body = _media_type(headers.get("content-type", "")) == CSV_TYPE
        wants = _wanted_type(headers.get("accept", ""), CSV_TYPE if csv_body else JSON_TYPE)
        if wants is None:
            offered = f"{CSV_TYPE} or {JSON_TYPE}"
            await refusal(406, f"Accept must allow {offered}.")(scope, receive, send)
            return
        # One byte over the limit is enough for the guard to refuse it with 413.
        body = await read_body(receive, self.max_body_bytes)
        if body is None:  # the client went away
            return
        if not csv_body:
            path, body = _json_route(body)
            convert = _json_to_csv if wants == CSV_TYPE else None
            await self._forward(scope, path, body, receive, send, convert=convert)
            return
        text = body.decode("utf-8-sig", errors="replace")
        headerless = bool(text.strip()) and not _has_header(text)
        if headerless:
            text = HEADER_LINE + text
        # Everything is /classify_csv's own answer, converted on its way out.
        steps = [_body_line_numbers] if headerless else []
        if wants == CSV_TYPE and headerless:
            steps.append(_without_header_line)
        if wants == JSON_TYPE:
            steps.append(_csv_to_json)
        convert = _chain(steps) if steps else None
        await self._forward(scope, CSV_ROUTE, text.encode(), receive, send, convert=convert)

    async def _forward(
        self,
        scope: Scope,
        path: str,
        body: bytes,
        receive: Receive,
        send: Send,
        *,
        convert: Rewrite | None = None,
    ) -> None:
        inner = _rewritten(scope, path, body_length=len(body))
        replay = replay_body(body, receive)
        if convert is None:
            await self.app(inner, replay, send)
        else:
            await self.app(inner, replay, rewriting(send, convert))


def _wanted_type(accept: str, natural: str) -> str | None:
    """The answer's media type for an ``Accept`` header: ``natural`` unless it asks for the
    other one; ``None`` when it allows neither."""
    offered = {JSON_TYPE, CSV_TYPE}
    ranges = [_media_type(part) for part in accept.split(",")]
    ranges = [r for r in ranges if r] or ["*/*"]
    if natural in ranges or "*/*" in ranges:
        return natural
    for media_range in ranges:
        if media_range in offered:
            return media_range
        if media_range.endswith("/*"):
            matching = [t for t in offered if t.startswith(media_range[:-1])]
            if matching:
                return natural if natural in matching else matching[0]
    return None


def _has_header(text: str) -> bool:
    # A data line starts with a number (seniority); a header names columns.
    first = next(csv.reader(io.StringIO(text, newline="")), [])
    return any(cell.strip() in APPLICATION_FIELDS for cell in first)


def _chain(steps: list[Rewrite]) -> Rewrite:
    def chained(status: int, headers: MutableHeaders, body: bytes) -> bytes | None:
        rewritten: bytes | None = None
        for step in steps:
            result = step(status, headers, body if rewritten is None else rewritten)
            if result is not None:
                rewritten = result
        return rewritten

    return chained


def _body_line_numbers(status: int, headers: MutableHeaders, body: bytes) -> bytes | None:
    """A 400 of ``/classify_csv`` for a body whose header we added, with its line numbers
    counted in the body as it was sent."""
    if status != 400 or _media_type(headers.get("content-type", "")) != JSON_TYPE:
        return None
    detail = json.loads(body).get("detail", [])
    if not detail or any(item.get("type") != "csv" for item in detail):
        return None
    problems = [
        CsvProblem(max(1, item["loc"][0] - 1), (item["loc"][1:] or [None])[0], item["msg"])
        for item in detail
    ]
    return bytes(csv_refusal(CsvError(problems)).body)


def _without_header_line(status: int, headers: MutableHeaders, body: bytes) -> bytes | None:
    """``/classify_csv``'s decisions for a body whose header we added, without theirs."""
    if status != 200:
        return None
    return body.split(b"\n", 1)[1] if b"\n" in body else b""


def _csv_to_json(status: int, headers: MutableHeaders, body: bytes) -> bytes | None:
    """``/classify_csv``'s decisions as ``/classify_batch`` answers them."""
    if status != 200:
        return None
    rows = csv.DictReader(io.StringIO(body.decode(), newline=""))
    decisions = [decision_from_row(row) for row in rows]
    text = BatchDecisions.model_validate({"decisions": decisions}).model_dump_json().encode()
    headers["content-type"] = JSON_TYPE
    return text


def _json_to_csv(status: int, headers: MutableHeaders, body: bytes) -> bytes | None:
    """A 200 of ``/classify`` or ``/classify_batch`` as ``/classify_csv`` would write it."""
    if status != 200:
        return None
    parsed = json.loads(body)
    decisions = parsed.get("decisions", [parsed])
    text = write_decisions(decision_row(i, d) for i, d in enumerate(decisions)).encode()
    headers["content-type"] = CSV_TYPE
    return text


def _json_route(body: bytes) -> tuple[str, bytes]:
    """The endpoint for a JSON body, and the body it gets (a list becomes a batch)."""
    stripped = body.lstrip()
    if stripped.startswith(b"["):
        return "/classify_batch", b'{"applications":' + body + b"}"
    try:
        parsed = json.loads(body)
    except ValueError:
        # Not JSON: /classify answers its usual 400 for it.
        return "/classify", body
    if isinstance(parsed, dict) and "applications" in parsed:
        return "/classify_batch", body
    return "/classify", body


def _media_type(value: str) -> str:
    return value.split(";", 1)[0].split(",", 1)[0].strip().lower()


def _rewritten(scope: Scope, path: str, body_length: int | None = None) -> Scope:
    headers = scope["headers"]
    if body_length is not None:
        headers = with_content_length(headers, body_length)
    return {**scope, "path": path, "raw_path": path.encode(), "headers": headers}
