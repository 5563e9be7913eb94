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
from collections.abc import Callable
from typing import Any, Final

from credit_risk.csv_format import (
    RANGE_SEPARATOR,
    CsvError,
    CsvProblem,
    decision_row,
    write_decisions,
)
from credit_risk.reasons import MAX_REASONS
from credit_risk.schema import BatchDecisions, Decision, Reason
from credit_risk.serving.csv_body import CSV_ROUTE, csv_refusal
from credit_risk.serving.guards import (
    ASGIApp,
    Message,
    Receive,
    Refusal,
    Scope,
    Send,
    replay_body,
)
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

Answer = tuple[int, list[tuple[bytes, bytes]], bytes]
"""A buffered response: status, headers, body."""


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
            await _send_json(send, self.execution_parameters())
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
        headers = dict(scope["headers"])
        csv_body = _media_type(headers.get(b"content-type", b"")) == CSV_TYPE
        wants = _wanted_type(headers.get(b"accept", b""), CSV_TYPE if csv_body else JSON_TYPE)
        if wants is None:
            offered = f"{CSV_TYPE} or {JSON_TYPE}"
            await Refusal(406, f"Accept must allow {offered}.").send(send)
            return
        body = await _read_bounded(receive, self.max_body_bytes)
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
        convert: Callable[[Answer], Answer] | None = None,
    ) -> None:
        inner = _rewritten(scope, path, body_length=len(body))
        replay = replay_body(body, receive)
        if convert is None:
            await self.app(inner, replay, send)
        else:
            await self.app(inner, replay, _converting(send, convert))


def _wanted_type(accept: bytes, natural: str) -> str | None:
    """The answer's media type for an ``Accept`` header: ``natural`` unless it asks for the
    other one; ``None`` when it allows neither."""
    offered = {JSON_TYPE, CSV_TYPE}
    ranges = [_media_type(part.encode()) for part in accept.decode("latin-1").split(",")]
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


def _chain(steps: list[Callable[[Answer], Answer]]) -> Callable[[Answer], Answer]:
    def chained(answer: Answer) -> Answer:
        for step in steps:
            answer = step(answer)
        return answer

    return chained


def _body_line_numbers(answer: Answer) -> Answer:
    """A 400 of ``/classify_csv`` for a body whose header we added, with its line numbers
    counted in the body as it was sent."""
    status, headers, body = answer
    if status != 400 or _media_type(dict(headers).get(b"content-type", b"")) != JSON_TYPE:
        return answer
    detail = json.loads(body).get("detail", [])
    if not detail or any(item.get("type") != "csv" for item in detail):
        return answer
    problems = [
        CsvProblem(max(1, item["loc"][0] - 1), (item["loc"][1:] or [None])[0], item["msg"])
        for item in detail
    ]
    refusal = csv_refusal(CsvError(problems))
    return status, _with_length(headers, len(refusal.body)), bytes(refusal.body)


def _without_header_line(answer: Answer) -> Answer:
    """``/classify_csv``'s decisions for a body whose header we added, without theirs."""
    status, headers, body = answer
    if status != 200:
        return answer
    rows = body.split(b"\n", 1)[1] if b"\n" in body else b""
    return status, _with_length(headers, len(rows)), rows


def _csv_to_json(answer: Answer) -> Answer:
    """``/classify_csv``'s decisions as ``/classify_batch`` answers them."""
    status, headers, body = answer
    if status != 200:
        return answer
    rows = csv.DictReader(io.StringIO(body.decode(), newline=""))
    text = BatchDecisions(decisions=[_decision(row) for row in rows]).model_dump_json().encode()
    return status, _typed(headers, JSON_TYPE, len(text)), text


def _decision(row: dict[str, str]) -> Decision:
    """A row of ``DECISION_COLUMNS`` back into the ``Decision`` it was written from
    (Python's CSV writes floats by ``repr``, which reads back exactly)."""
    reasons = [
        Reason(
            code=row[f"reason_{rank}_code"],
            field=row[f"reason_{rank}_field"],
            text=row[f"reason_{rank}_text"],
            contribution=float(row[f"reason_{rank}_contribution"]),
        )
        for rank in range(1, MAX_REASONS + 1)
        if row[f"reason_{rank}_code"]
    ]
    ranges = row["out_of_training_range"]
    return Decision(
        status=row["status"],  # type: ignore[arg-type]
        default_probability=float(row["default_probability"]),
        score=int(row["score"]),
        reasons=reasons,
        out_of_training_range=ranges.split(RANGE_SEPARATOR) if ranges else [],
        model_tag=row["model_tag"],
        policy_version=row["policy_version"],
        decision_id=row["decision_id"],
    )


def _json_to_csv(answer: Answer) -> Answer:
    """A 200 of ``/classify`` or ``/classify_batch`` as ``/classify_csv`` would write it."""
    status, headers, body = answer
    if status != 200:
        return answer
    parsed = json.loads(body)
    decisions = parsed.get("decisions", [parsed])
    text = write_decisions(decision_row(i, d) for i, d in enumerate(decisions)).encode()
    return status, _typed(headers, CSV_TYPE, len(text)), text


def _typed(
    headers: list[tuple[bytes, bytes]], media_type: str, length: int
) -> list[tuple[bytes, bytes]]:
    kept = [(k, v) for k, v in headers if k.lower() != b"content-type"]
    return _with_length([*kept, (b"content-type", media_type.encode())], length)


def _with_length(headers: list[tuple[bytes, bytes]], length: int) -> list[tuple[bytes, bytes]]:
    kept = [(k, v) for k, v in headers if k.lower() != b"content-length"]
    return [*kept, (b"content-length", str(length).encode())]


def _converting(send: Send, convert: Callable[[Answer], Answer]) -> Send:
    """A ``send`` that buffers the whole response, converts it, then sends it."""
    start: Message = {}
    chunks: list[bytes] = []

    async def buffered(message: Message) -> None:
        nonlocal start
        if message["type"] == "http.response.start":
            start = message
            return
        if message["type"] != "http.response.body":
            await send(message)
            return
        chunks.append(message.get("body", b""))
        if message.get("more_body", False):
            return
        status, headers, body = convert((start["status"], list(start["headers"]), b"".join(chunks)))
        await send({**start, "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return buffered


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


def _media_type(value: bytes) -> str:
    return value.decode("latin-1").split(";", 1)[0].split(",", 1)[0].strip().lower()


def _rewritten(scope: Scope, path: str, body_length: int | None = None) -> Scope:
    headers = scope["headers"]
    if body_length is not None:
        headers = [(k, v) for k, v in headers if k.lower() != b"content-length"]
        headers.append((b"content-length", str(body_length).encode()))
    return {**scope, "path": path, "raw_path": path.encode(), "headers": headers}


async def _read_bounded(receive: Receive, limit: int) -> bytes | None:
    # One byte over the limit is enough for the guard to refuse it with 413.
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk: bytes = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _send_json(send: Send, payload: dict[str, Any]) -> None:
    body = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", JSON_TYPE.encode()),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
