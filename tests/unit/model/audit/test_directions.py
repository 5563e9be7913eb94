"""Field directions, proven: the pieces are the whole function (checked against
exhaustive and dense evaluation), the served model keeps every direction, and a model
trained against one is caught with a counterexample that holds when scored afresh."""

from __future__ import annotations

import math
from typing import Final

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from credit_risk.features import FEATURE_NAMES
from credit_risk.model.audit.applications import Applications
from credit_risk.model.audit.directions import (
    FIELD_DOMAINS,
    SMALLEST_POSITIVE,
    Domain,
    audit_direction,
    margins_of,
    output_pieces,
    probabilities_of,
    status_ranks,
)
from credit_risk.model.audit.proofs import field_senses, monotone_violations
from credit_risk.model.store import ServedModel
from credit_risk.policy import COURSE_POLICY
from credit_risk.schema import COURSE_EXAMPLE, CreditApplication
from credit_risk.vocabulary import FIELD_DIRECTIONS
from tests.unit.model.audit.models import (
    COMPLIANT,
    UNCONSTRAINED,
    Safeguards,
    SmallModel,
    against_direction,
    small_model,
)


def _accepts(field: str, value: float) -> bool:
    try:
        CreditApplication(**{**COURSE_EXAMPLE, field: value})
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize("field", FIELD_DOMAINS)
def test_each_domain_is_what_the_api_accepts(field: str) -> None:
    domain = FIELD_DOMAINS[field]
    low, high = (
        (int(v) for v in (domain.low, domain.high))
        if domain.integer
        else (
            domain.low,
            domain.high,
        )
    )
    assert _accepts(field, low) and _accepts(field, high)
    if domain.integer:
        assert not _accepts(field, low - 1) and not _accepts(field, high + 1)
    else:
        assert not _accepts(field, math.nextafter(high, math.inf))
        below = math.nextafter(low, -math.inf)
        # Below a domain open at 0, the API refuses, or reads "not declared" (income 0).
        assert not _accepts(field, below) or (field == "income" and below == 0)
    assert set(FIELD_DOMAINS) | {"records"} == set(FIELD_DIRECTIONS)


def test_status_ranks_are_the_policys_statuses() -> None:
    probabilities = np.array([0, 0.25, np.nextafter(0.25, 1), 0.4, 0.5, np.nextafter(0.5, 1), 1])
    ranks = status_ranks(COURSE_POLICY, probabilities)
    order = {"APPROVED": 0, "MAYBE": 1, "DECLINED": 2}
    assert ranks.tolist() == [order[COURSE_POLICY.status(float(p))] for p in probabilities]


def _brute_force(
    margins: np.ndarray, own_margins: np.ndarray, safer_than_own: np.ndarray, riskier_first: bool
) -> dict[str, object]:
    """The audit's figures from the output at every value (rows x values, ascending)."""
    if not riskier_first:
        margins, safer_than_own = margins[:, ::-1], safer_than_own[:, ::-1]
    probabilities = probabilities_of(margins)
    ranks = status_ranks(COURSE_POLICY, probabilities)
    rise = margins.astype(np.float64) - np.minimum.accumulate(margins, axis=1)
    p_rise = (probabilities - np.minimum.accumulate(probabilities, axis=1)).max(axis=1)
    violating = rise.max(axis=1) > 0
    own_rise = np.where(safer_than_own, margins - own_margins[:, np.newaxis], 0).max(axis=1)
    own_ranks = status_ranks(COURSE_POLICY, probabilities_of(own_margins))
    return {
        "violating": int(violating.sum()),
        "max_increase": float(p_rise[violating].max(initial=0.0)),
        "worse_decision": int(
            ((ranks - np.minimum.accumulate(ranks, axis=1)).max(axis=1) > 0).sum()
        ),
        "own_violating": int((own_rise > 0).sum()),
        "own_worse_decision": int(
            (np.where(safer_than_own, ranks, -1) > own_ranks[:, np.newaxis]).any(axis=1).sum()
        ),
    }


@pytest.fixture(scope="module")
def against(course_frame: pd.DataFrame) -> dict[str, SmallModel]:
    """Per field with a direction, a model trained without monotone constraints on labels
    that move the risk against the field's direction: each must be caught."""
    return {
        field: small_model(course_frame, against_direction(course_frame, field), UNCONSTRAINED)
        for field in FIELD_DIRECTIONS
    }


@pytest.mark.parametrize("model", ["served", "against"])
def test_seniority_proof_equals_trying_every_seniority(
    served: ServedModel, against: dict[str, SmallModel], data: Applications, model: str
) -> None:
    # Seniority is an integer from 0 to 100: all 101 values tried is the truth.
    booster = served.booster if model == "served" else against["seniority"].booster
    sample = data.take(np.arange(0, len(data), 37))
    seniorities = np.arange(101, dtype=np.float64)
    rows = np.repeat(np.arange(len(sample)), len(seniorities))
    every = margins_of(
        booster, sample.with_numeric("seniority", rows, np.tile(seniorities, len(sample)))
    ).reshape(len(sample), -1)
    own = margins_of(booster, sample.encoded)
    expected = _brute_force(
        every, own, seniorities > sample.numeric["seniority"][:, np.newaxis], riskier_first=True
    )
    audit = audit_direction(booster, sample, "seniority", COURSE_POLICY)
    assert {key: getattr(audit, key) for key in expected} == expected
    assert audit.pieces < every.size
    # The served model keeps the direction, the other breaks it: both answers are checked.
    assert (audit.violating == 0) == (model == "served")
    assert np.ptp(every, axis=1).max() > 0  # and the output does move with seniority


@pytest.mark.parametrize("field", ["income", "assets", "amount"])
def test_the_output_is_constant_on_every_piece_and_between_takes_a_neighbours(
    served: ServedModel, data: Applications, field: str
) -> None:
    sample = data.take(np.arange(5, len(data), 211))
    pieces = output_pieces(served.booster, sample, field)
    domain = FIELD_DOMAINS[field]
    assert (pieces.first <= pieces.last).all()
    assert len(np.unique(pieces.rows)) == len(sample)
    rng = np.random.default_rng(3)

    def margins_at(positions: np.ndarray) -> np.ndarray:
        moved = sample.with_numeric(field, pieces.rows, domain.values(positions))
        return margins_of(served.booster, moved)

    # Inside a piece: its margin, at its last value and anywhere from first to last.
    inside = pieces.first + (rng.random(len(pieces.rows)) * (pieces.last - pieces.first))
    np.testing.assert_array_equal(margins_at(pieces.last), pieces.margins)
    np.testing.assert_array_equal(margins_at(inside.astype(np.int64)), pieces.margins)
    # Between a piece and the next one of the application: one of their two margins.
    same = pieces.rows[1:] == pieces.rows[:-1]
    gap = np.append(pieces.first[1:] - pieces.last[:-1], 0)
    between = pieces.last + 1 + (rng.random(len(gap)) * np.maximum(gap - 1, 0)).astype(np.int64)
    between = np.where(np.append(same, False) & (gap > 1), between, pieces.last)
    found = margins_at(between)
    following = np.append(pieces.margins[1:], np.nan)
    assert ((found == pieces.margins) | (found == following)).all()
    assert (found == following).any() and (gap > 1).any()


@pytest.mark.parametrize("field", ["income", "amount"])
def test_a_dense_sweep_finds_nothing_the_pieces_do_not_hold(
    served: ServedModel, data: Applications, field: str
) -> None:
    sample = data.take(np.arange(3, len(data), 307))
    pieces = output_pieces(served.booster, sample, field)
    dense = np.concatenate([np.geomspace(1e-3, 1e9, 3000), np.linspace(1, 3000, 3000)])
    rows = np.repeat(np.arange(len(sample)), len(dense))
    swept = margins_of(
        served.booster, sample.with_numeric(field, rows, np.tile(dense, len(sample)))
    ).reshape(len(sample), -1)
    for row in range(len(sample)):
        assert set(swept[row].tolist()) <= set(pieces.margins[pieces.rows == row].tolist())


DATA_STEP: Final[dict[str, int]] = {"seniority": 1, "records": 1, "income": 3, "assets": 3}
"""Every data row for the quick fields, every third for the slow ones (a row costs them
2 to 3 ms: the generated population of ``test_report`` covers more)."""


@pytest.mark.parametrize("field", FIELD_DIRECTIONS)
def test_the_served_model_keeps_every_direction(
    served: ServedModel, data: Applications, field: str
) -> None:
    sample = data.take(np.arange(0, len(data), DATA_STEP.get(field, 3)))
    audit = audit_direction(served.booster, sample, field, served.policy)
    assert audit.holds, audit.counterexample
    assert audit.own_violating == audit.worse_decision == audit.own_worse_decision == 0
    assert audit.counterexample is None and audit.max_increase == 0.0
    # It does move with the field: a proof over a constant would prove nothing.
    if field == "records":
        assert audit.pieces == 2 * len(sample)
    else:
        assert audit.pieces > 2 * len(sample)


@pytest.mark.parametrize("field", FIELD_DIRECTIONS)
def test_a_model_trained_against_a_direction_is_caught_with_a_true_counterexample(
    against: dict[str, SmallModel], course_frame: pd.DataFrame, data: Applications, field: str
) -> None:
    model = against[field]
    sample = data.take(np.arange(0, len(data), 11))
    audit = audit_direction(model.booster, sample, field, model.policy)
    assert audit.violating > len(sample) / 2 and audit.max_increase > 0.01
    assert audit.worse_decision > 0 and audit.own_violating > 0
    example = audit.counterexample
    assert example is not None and example.safer_probability > example.riskier_probability
    # The counterexample, encoded afresh: the safer value scores worse.
    if field == "records":
        assert (example.riskier_value, example.safer_value) == ("yes", "no")
        encoded = sample.take([example.row, example.row])
        rows = np.concatenate(
            [encoded.with_label(field, "yes")[:1], encoded.with_label(field, "no")[:1]]
        )
    else:
        assert isinstance(example.safer_value, float)
        assert isinstance(example.riskier_value, float)
        assert (example.safer_value > example.riskier_value) == (FIELD_DIRECTIONS[field] < 0)
        rows = sample.with_numeric(
            field,
            np.array([example.row, example.row]),
            [example.riskier_value, example.safer_value],
        )
    assert probabilities_of(margins_of(model.booster, rows)).tolist() == [
        example.riskier_probability,
        example.safer_probability,
    ]
    # The proof on the trees finds the nodes that break it.
    assert monotone_violations(model.booster, field_senses(field, FIELD_DIRECTIONS[field]))
    # With the served model's safeguards, the same labels cannot break it.
    kept = small_model(course_frame, against_direction(course_frame, field), COMPLIANT)
    assert audit_direction(kept.booster, sample, field, kept.policy).holds


def test_the_issues_sweep_is_the_income_proof_on_a_narrower_domain(
    served: ServedModel, against: dict[str, SmallModel], data: Applications
) -> None:
    sample = data.take(np.arange(40))
    booster = against["income"].booster
    narrow = audit_direction(booster, sample, "income", COURSE_POLICY, domain=Domain(50.0, 800.0))
    assert narrow.domain == (50.0, 800.0) and narrow.violating > 0
    whole = audit_direction(booster, sample, "income", COURSE_POLICY)
    assert narrow.max_increase <= whole.max_increase and narrow.pieces <= whole.pieces
    # The served model keeps it on both.
    for domain in (Domain(50.0, 800.0), None):
        assert audit_direction(served.booster, sample, "income", served.policy, domain=domain).holds


@pytest.mark.parametrize("field", FIELD_DIRECTIONS)
def test_a_model_constrained_field_by_field_keeps_every_direction(
    compliant: SmallModel, data: Applications, field: str
) -> None:
    sample = data.take(np.arange(0, len(data), 5))
    audit = audit_direction(compliant.booster, sample, field, compliant.policy)
    assert audit.holds, audit
    assert audit.own_violating == audit.worse_decision == 0 and audit.counterexample is None
    # It does move with the field: a proof over a constant would prove nothing.
    assert audit.pieces > 2 * len(sample) if field != "records" else audit.pieces == 2 * len(sample)


def test_zero_assets_keep_the_direction_from_debt_share(
    compliant: SmallModel, data: Applications
) -> None:
    # A ratio over assets alone was missing at assets 0 and huge just above: no constraint
    # ordered the two. debt_share = debt / (debt + assets + 1) is finite at 0 and falls
    # as assets grow, so the constraints hold from 0 up.
    sample = data.take(np.arange(0, len(data), 5))
    assert (sample.numeric["assets"] == 0).any()
    audit = audit_direction(compliant.booster, sample, "assets", compliant.policy)
    assert audit.domain[0] == 0.0 and audit.holds, audit.counterexample
    at_zero = sample.with_numeric("assets", np.arange(len(sample)), np.zeros(len(sample)))
    share = at_zero[:, FEATURE_NAMES.index("debt_share")]
    declared = ~np.isnan(sample.numeric["debt"])
    assert np.isfinite(share[declared]).all() and (share[declared] >= 0).all()
    positive = Domain(SMALLEST_POSITIVE, FIELD_DOMAINS["assets"].high)
    assert audit_direction(
        compliant.booster, sample, "assets", compliant.policy, domain=positive
    ).holds


def test_a_model_with_a_non_monotone_income_is_caught(course_frame: pd.DataFrame) -> None:
    # Low expenses for the income default, on purpose: more income, lower
    # expenses_to_income, more risk. No constraint on it; income itself constrained.
    low = (course_frame["expenses"] / course_frame["income"] < 0.3).to_numpy()
    model = small_model(course_frame, low, Safeguards(constraints={"income": -1}))
    data = Applications.from_columns(course_frame.iloc[:300])
    audit = audit_direction(model.booster, data, "income", model.policy)
    assert audit.violating > 250 and audit.max_increase > 0.3 and audit.worse_decision > 0
