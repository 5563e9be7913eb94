"""The record builder: the challenger's field is the last, and only when one scored."""

from __future__ import annotations

import orjson

from credit_risk.records.format import decision_lines

APPLICATION = {"age": 30}
DECISION = {
    "decision_id": "d",
    "model_tag": "credit_risk_model:champion",
    "policy_version": "p",
    "status": "MAYBE",
    "default_probability": 0.3,
    "score": 450,
    "reasons": [],
    "out_of_training_range": [],
}
CHALLENGER = {
    "model_tag": "credit_risk_model:challenger",
    "status": "DECLINED",
    "default_probability": 0.6,
    "score": 380,
}


def test_records_without_a_challenger_are_unchanged() -> None:
    (line,) = decision_lines([APPLICATION], [DECISION], endpoint="/classify", latency_ms=1.0)
    assert list(orjson.loads(line))[-1] == "latency_ms"


def test_the_challengers_field_comes_last() -> None:
    (line,) = decision_lines(
        [APPLICATION], [DECISION], endpoint="/classify", latency_ms=1.0, challengers=[CHALLENGER]
    )
    record = orjson.loads(line)
    assert list(record)[-1] == "challenger" and record["challenger"] == CHALLENGER
    assert record["status"] == "MAYBE" and record["model_tag"] == "credit_risk_model:champion"
