"""The service's own answers: status, headers and bytes, the same JSON as before orjson."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from credit_risk.csv_format import DECISION_COLUMNS, CsvError, CsvProblem
from credit_risk.records import RecordsUnavailable
from credit_risk.schema import Decision, Reason
from credit_risk.serving.responses import (
    RETRY_AFTER_S,
    csv_refusal,
    decisions_csv,
    decisions_json,
    refusal,
    suspended,
)

DECISION: dict[str, Any] = Decision(
    status="MAYBE",
    default_probability=0.25,
    score=611,
    reasons=[Reason(code="R1", field="income", text="Low income", contribution=0.1)],
    out_of_training_range=["price"],
    model_tag="credit_risk:abc",
    policy_version="v1",
    decision_id="0b7c",
).model_dump(mode="json")


def test_a_decision_is_compact_json_equal_to_its_model() -> None:
    answer = decisions_json(DECISION)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    assert int(answer.headers["content-length"]) == len(answer.body)
    assert json.loads(answer.body) == DECISION
    assert Decision.model_validate_json(answer.body).model_dump(mode="json") == DECISION


def test_a_batch_of_decisions_keeps_their_order() -> None:
    second = {**DECISION, "decision_id": "second"}
    answer = decisions_json({"decisions": [DECISION, second]})
    assert [d["decision_id"] for d in json.loads(answer.body)["decisions"]] == ["0b7c", "second"]


def test_decisions_as_csv_have_the_decision_columns_and_a_row_each() -> None:
    answer = decisions_csv([DECISION, DECISION])
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"
    rows = list(csv.reader(io.StringIO(answer.body.decode(), newline="")))
    assert tuple(rows[0]) == DECISION_COLUMNS
    assert [row[0] for row in rows[1:]] == ["0", "1"]


def test_a_suspended_decision_is_a_503_with_retry_after() -> None:
    refused = RecordsUnavailable("disk full")
    answer = suspended(refused)
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == str(RETRY_AFTER_S)
    assert answer.headers["content-type"] == "application/json"
    # The same JSON json.dumps wrote before.
    assert json.loads(answer.body) == json.loads(json.dumps({"error": str(refused)}))


def test_a_csv_refusal_names_each_line_and_column() -> None:
    error = CsvError([CsvProblem(3, "age", "too young"), CsvProblem(1, None, "no header")])
    answer = csv_refusal(error)
    assert answer.status_code == 400
    assert answer.headers["content-type"] == "application/json"
    assert json.loads(answer.body) == {
        "error": f"Invalid CSV: {error}",
        "detail": [
            {"loc": [3, "age"], "msg": "too young", "type": "csv"},
            {"loc": [1], "msg": "no header", "type": "csv"},
        ],
    }


def test_a_refusal_carries_its_headers_and_writes_text_as_utf8() -> None:
    answer = refusal(401, "nö key", {"WWW-Authenticate": "Bearer"})
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == "Bearer"
    assert answer.body == '{"error":"nö key"}'.encode()
    assert json.loads(answer.body) == json.loads(json.dumps({"error": "nö key"}))
