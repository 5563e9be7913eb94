"""Decisions for a batch at once: the same answers as one at a time, and the metrics."""

from __future__ import annotations

import uuid

import numpy as np
import pytest
from prometheus_client import REGISTRY, CollectorRegistry, Histogram

from credit_risk.decisions import DecisionMaker, round_contributions
from credit_risk.features import FEATURE_NAMES
from credit_risk.policy import COURSE_POLICY, PROTECTED_FIELDS
from credit_risk.reasons import MAX_REASONS, REASON_CODES, principal_reasons
from credit_risk.serving import metrics
from credit_risk.vocabulary import APPLICATION_FIELDS, NUMERIC_FIELDS

RANGES = {name: [0.0, 100.0] for name in NUMERIC_FIELDS}


@pytest.fixture
def decider() -> DecisionMaker:
    """A decision maker by the course's policy, every numeric field ranging 0..100."""
    return DecisionMaker("credit_risk_model:test", COURSE_POLICY, RANGES)


def _scored_batch(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Encoded rows (some missing, some out of range) and explain-shaped answers with ties,
    zeros and negative contributions."""
    rng = np.random.default_rng(seed)
    features = rng.uniform(-20, 120, size=(rows, len(FEATURE_NAMES))).astype(np.float32)
    features[rng.random(features.shape) < 0.2] = np.nan
    contributions = np.round(rng.normal(size=(rows, len(APPLICATION_FIELDS))), 1)
    contributions[rng.random(contributions.shape) < 0.2] = 0.0
    probabilities = rng.uniform(0, 1, size=(rows, 1))
    probabilities[:3, 0] = (0.25, 0.5, 0.0)  # at the thresholds, and certain
    scored = np.hstack([probabilities, contributions]).astype(np.float32)
    return features, scored


def test_batch_decisions_equal_one_at_a_time(decider: DecisionMaker) -> None:
    features, scored = _scored_batch(500, seed=1)
    batch = decider.decide_all(features, scored)
    assert len(batch) == 500
    assert len({d.decision_id for d in batch}) == 500
    for decision, row, result in zip(batch, features.tolist(), scored.tolist(), strict=True):
        single = decider.decide(row, result[0], result[1:])
        assert decision.model_dump(exclude={"decision_id"}) == single.model_dump(
            exclude={"decision_id"}
        )
        assert uuid.UUID(decision.decision_id).version == 4
        probability = result[0]
        assert decision.default_probability == probability
        assert decision.status == COURSE_POLICY.status(probability)
        assert decision.score == COURSE_POLICY.scorecard.points(probability)
        assert decision.model_tag == "credit_risk_model:test"
        assert decision.policy_version == COURSE_POLICY.version
        flagged = [
            name
            for name, value in zip(NUMERIC_FIELDS, row, strict=False)
            if not np.isnan(value) and not 0 <= value <= 100
        ]
        assert decision.out_of_training_range == flagged


def test_reasons_rank_by_contribution_then_by_field_name(decider: DecisionMaker) -> None:
    features, scored = _scored_batch(400, seed=2)
    for decision, contributions in zip(
        decider.decide_all(features, scored), scored[:, 1:].tolist(), strict=True
    ):
        ranked = sorted(zip(contributions, APPLICATION_FIELDS, strict=True), reverse=True)
        # A protected field is never cited (reasons.py), whatever its contribution.
        expected = [
            (field, round(value, 4))
            for value, field in ranked
            if value > 0 and field not in PROTECTED_FIELDS
        ]
        expected = expected[:MAX_REASONS]
        assert [(r.field, r.contribution) for r in decision.reasons] == expected
        assert all(r.code == REASON_CODES[r.field][0] for r in decision.reasons)
    ties = [0.5] * len(APPLICATION_FIELDS)
    # Equal pushes: the field whose name sorts last comes first.
    assert [r.field for r in principal_reasons(ties)] == sorted(APPLICATION_FIELDS)[::-1][:4]


def _sample(name: str, labels: dict[str, str] | None = None) -> float:
    return REGISTRY.get_sample_value(name, labels or {}) or 0.0


def test_metrics_count_every_decision_of_a_batch(decider: DecisionMaker) -> None:
    features, scored = _scored_batch(300, seed=3)
    decisions = decider.decide_all(features, scored)
    statuses = ("APPROVED", "MAYBE", "DECLINED")

    def decided(status: str) -> float:
        labels = {"model_tag": metrics.served_model_tag(), "status": status}
        return _sample("credit_decisions_total", labels)

    before = {s: decided(s) for s in statuses}
    observed = _sample("credit_default_probability_count")
    total = _sample("credit_default_probability_sum")
    metrics.count_all([d.status for d in decisions], [d.default_probability for d in decisions])
    for status in statuses:
        expected = sum(d.status == status for d in decisions)
        assert expected > 0
        assert decided(status) - before[status] == expected
    assert _sample("credit_default_probability_count") - observed == 300
    assert _sample("credit_default_probability_sum") - total == pytest.approx(
        sum(d.default_probability for d in decisions)
    )


def test_observe_all_equals_observing_one_by_one() -> None:
    registry = CollectorRegistry()
    buckets = metrics.PROBABILITY_BUCKETS
    one_by_one, bulk = (
        Histogram(name, "test", buckets=buckets, registry=registry) for name in ("single", "bulk")
    )
    # Every bound exactly (a value equal to a bound is counted in that bucket), just
    # above and below them, and the ends.
    values = [*buckets, *(b + 1e-12 for b in buckets), *(b - 1e-12 for b in buckets), 0.0, 1.0]
    values += np.random.default_rng(0).random(500).tolist()
    for value in values:
        one_by_one.observe(value)
    metrics.observe_all(bulk, values)
    metrics.observe_all(bulk, [0.25])  # one value alone goes through observe()
    one_by_one.observe(0.25)

    def samples(name: str) -> list[tuple[str, dict[str, str], float]]:
        (metric,) = (m for m in registry.collect() if m.name == name)
        return [(s.name.removeprefix(name), s.labels, s.value) for s in metric.samples]

    single, many = samples("single"), samples("bulk")
    assert [s for s in single if s[0] != "_sum" and s[0] != "_created"] == [
        s for s in many if s[0] != "_sum" and s[0] != "_created"
    ]
    (single_sum,) = (s[2] for s in single if s[0] == "_sum")
    (bulk_sum,) = (s[2] for s in many if s[0] == "_sum")
    assert bulk_sum == pytest.approx(single_sum, rel=1e-12)


def test_round_contributions_is_pythons_round() -> None:
    rng = np.random.default_rng(5)
    values = np.concatenate(
        [
            (rng.normal(size=100_000) * scale).astype(np.float32)
            for scale in (1e-5, 1e-3, 0.1, 1.0, 10.0)
        ]
        # Halfway between two 4-decimal values, as near as float32 gets, either sign.
        + [((np.arange(-50_000, 50_000) + 0.5) / 1e4).astype(np.float32)]
    )
    rounded = round_contributions(values.reshape(-1, 4)).ravel().tolist()
    assert rounded == [round(value, 4) for value in values.astype(np.float64).tolist()]
