"""The column-wise JSON of decisions: byte for byte what ``orjson.dumps`` writes of the
answers' dicts, for every status, 0 to 4 reasons, values out of range or missing."""

from __future__ import annotations

import dataclasses

import numpy as np
import orjson
import pytest

from credit_risk.decision_json import (
    Choices,
    Numbers,
    ObjectTemplate,
    Strings,
    answers_json,
)
from credit_risk.decisions import DecisionColumns, DecisionMaker
from credit_risk.features import FEATURE_NAMES
from credit_risk.policy import COURSE_POLICY
from credit_risk.reasons import MAX_REASONS
from credit_risk.vocabulary import APPLICATION_FIELDS, NUMERIC_FIELDS

RANGES = {name: [0.0, 100.0] for name in NUMERIC_FIELDS}


def decided_batch(rows: int, seed: int, tag: str = "credit_risk_model:test") -> DecisionColumns:
    """Decisions of drawn rows: every status, 0 to 4 reasons (ties, zeros, negatives),
    fields missing and out of range."""
    rng = np.random.default_rng(seed)
    features = rng.uniform(-20, 120, size=(rows, len(FEATURE_NAMES))).astype(np.float32)
    features[rng.random(features.shape) < 0.2] = np.nan
    contributions = np.round(rng.normal(size=(rows, len(APPLICATION_FIELDS))), 1)
    # Rows with fewer positive contributions: 0 to 4 reasons.
    few = rng.integers(0, len(APPLICATION_FIELDS), size=rows)
    contributions[np.arange(len(APPLICATION_FIELDS)) >= few[:, None]] = -1.0
    contributions[rng.random(contributions.shape) < 0.2] = 0.0
    probabilities = rng.uniform(0, 1, size=(rows, 1))
    probabilities[:3, 0] = (0.25, 0.5, 0.0)[:rows]
    scored = np.hstack([probabilities, contributions]).astype(np.float32)
    return DecisionMaker(tag, COURSE_POLICY, RANGES).decide_columns(features, scored)


@pytest.mark.parametrize("rows", [1, 2, 7, 1000])
def test_answers_are_the_dumps_of_the_dicts(rows: int) -> None:
    decided = decided_batch(rows, seed=rows)
    assert answers_json(decided) == orjson.dumps({"decisions": decided.answers()})


def test_the_batch_covers_every_case() -> None:
    decided = decided_batch(1000, seed=1000)
    assert set(decided.status) == {"APPROVED", "MAYBE", "DECLINED"}
    assert set(decided.has_reason.sum(axis=1).tolist()) == set(range(MAX_REASONS + 1))
    flagged = {len(fields) for fields in decided.out_of_training_range}
    assert 0 in flagged and max(flagged) >= 2


def test_odd_tags_and_ids_are_escaped_as_orjson_does() -> None:
    decided = decided_batch(5, seed=3, tag='model "%s" \\ ü,"')
    ids = ['a","b', "\\", '"', "x%sy", "é\n"]
    odd = dataclasses.replace(decided, decision_id=ids)
    assert answers_json(odd) == orjson.dumps({"decisions": odd.answers()})


def test_columns_render_as_orjson_writes_each_value() -> None:
    values = [0.1, None, 1e-7, 3, -0.0, 1e300, None]
    assert Numbers(values).render(b"<") == [b"<" + orjson.dumps(v) for v in values]
    assert Numbers(values, after=b"}", missing=b"").render(b"") == [
        b"" if v is None else orjson.dumps(v) + b"}" for v in values
    ]
    strings = ["", '","', "a", '\\"']
    assert Strings(strings).render(b"k:") == [b"k:" + orjson.dumps(s) for s in strings]
    assert Choices(["b", "a"], {"a": b"1", "b": b"2"}).render(b"-") == [b"-2", b"-1"]


def test_a_template_fills_its_slots_in_order() -> None:
    template = ObjectTemplate.of(["a", "b", "c"], {"b": "%s"})
    rows = template.fill({"a": [Numbers([1, 2])], "c": [Strings(["x", "y"])]}, end=b"\n")
    assert rows == [
        orjson.dumps({"a": n, "b": "%s", "c": s}) + b"\n" for n, s in [(1, "x"), (2, "y")]
    ]
