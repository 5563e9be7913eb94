"""The flat decision row: one layout, written and read back to the same decision."""

from __future__ import annotations

import csv
import io
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from credit_risk.csv_format import (
    DECISION_COLUMN_TYPES,
    DECISION_COLUMNS,
    REASON_PARTS,
    decision_from_row,
    decision_row,
    describe_errors,
    reason_column,
    write_decisions,
)
from credit_risk.decisions import DecisionMaker
from credit_risk.features import FEATURE_NAMES
from credit_risk.policy import COURSE_POLICY
from credit_risk.reasons import MAX_REASONS
from credit_risk.schema import COURSE_EXAMPLE, CreditApplication, Decision, Reason
from credit_risk.vocabulary import APPLICATION_FIELDS, NUMERIC_FIELDS


def test_the_layout_is_the_decision_flattened_reasons_as_wide_as_max_reasons() -> None:
    assert tuple(REASON_PARTS) == tuple(Reason.model_fields)
    reasons = [
        reason_column(rank, part) for rank in range(1, MAX_REASONS + 1) for part in REASON_PARTS
    ]
    expected = (
        "row_id",
        "status",
        "default_probability",
        "score",
        *reasons,
        "out_of_training_range",
        "model_tag",
        "policy_version",
        "decision_id",
        "error",
    )
    assert expected == DECISION_COLUMNS
    assert reason_column(MAX_REASONS, "text") == f"reason_{MAX_REASONS}_text"
    # Every field of a Decision but its reasons is one column of the row.
    assert set(Decision.model_fields) - {"reasons"} <= set(DECISION_COLUMNS)
    assert {DECISION_COLUMN_TYPES[name] for name in ("row_id", "score")} == {int}
    assert DECISION_COLUMN_TYPES[reason_column(1, "contribution")] is float


def _answers(rows: int) -> list[dict[str, Any]]:
    """Real decisions: 0 to 4 reasons, ties, out-of-range flags."""
    rng = np.random.default_rng(3)
    encoded = rng.uniform(-20, 120, size=(rows, len(FEATURE_NAMES))).astype(np.float32)
    contributions = np.round(rng.normal(size=(rows, len(APPLICATION_FIELDS))), 1)
    contributions[:5] = -1.0  # no reason at all
    scored = np.hstack([rng.uniform(0, 1, size=(rows, 1)), contributions]).astype(np.float32)
    ranges = {name: [0.0, 100.0] for name in NUMERIC_FIELDS}
    decider = DecisionMaker("credit_risk_model:test", COURSE_POLICY, ranges)
    return decider.decide_columns(encoded, scored).answers()


@pytest.mark.parametrize("rows", [1, 200])
def test_a_decision_written_as_csv_reads_back_to_the_same_json(rows: int) -> None:
    answers = _answers(rows)
    if rows > 1:
        assert {0, MAX_REASONS} <= {len(answer["reasons"]) for answer in answers}
    text = write_decisions(decision_row(i, answer) for i, answer in enumerate(answers))
    read = list(csv.DictReader(io.StringIO(text, newline="")))
    assert list(read[0]) == list(DECISION_COLUMNS)
    assert [row["row_id"] for row in read] == [str(i) for i in range(rows)]
    assert [decision_from_row(row) for row in read] == answers
    # And the JSON form is the API's: a Decision dumps to it unchanged.
    assert [Decision.model_validate(a).model_dump() for a in answers] == answers


def test_an_empty_reason_or_range_is_an_empty_cell() -> None:
    (answer,) = _answers(1)
    answer = {**answer, "reasons": [], "out_of_training_range": []}
    row = decision_row(7, answer)
    assert all(
        row[reason_column(rank, part)] is None
        for rank in range(1, MAX_REASONS + 1)
        for part in REASON_PARTS
    )
    assert row["out_of_training_range"] == "" and row["error"] is None
    text = write_decisions([row])
    (read,) = csv.DictReader(io.StringIO(text, newline=""))
    assert decision_from_row(read) == answer


def test_validation_errors_are_named_by_field_and_counted_past_a_limit() -> None:
    bad = {**dict(COURSE_EXAMPLE), "age": -1, "income": "x", "home": "castle", "job": None}
    with pytest.raises(ValidationError) as caught:
        CreditApplication.model_validate(bad)
    full = describe_errors(caught.value)
    assert full.count("; ") == 3 and full.startswith(("age: ", "home: ", "income: ", "job: "))
    short = describe_errors(caught.value, limit=2)
    assert short == "; ".join(full.split("; ")[:2]) + " (+2 more)"
    with pytest.raises(ValidationError) as whole:
        CreditApplication.model_validate([1])
    assert describe_errors(whole.value, whole="body").startswith("body: ")
