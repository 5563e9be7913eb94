"""Decision records (``bentoml.monitor``) and Prometheus metrics (``bentoml.metrics``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Final

import bentoml
from prometheus_client import Counter, Histogram

from credit_risk.schema import CreditApplication, Decision
from credit_risk.vocabulary import APPLICATION_FIELDS, CATEGORICAL_FIELDS

DECISION_MONITOR: Final = "credit_decisions"
"""Name of the audit trail; records go to ``<monitoring_dir>/credit_decisions/data/``."""

PROBABILITY_BUCKETS: Final = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)

# bentoml.metrics is deprecated in 1.4 in favour of prometheus_client, which
# BentoML's /metrics aggregates across workers (PROMETHEUS_MULTIPROC_DIR).
decisions_total = Counter(
    name="credit_decisions_total",
    documentation="Decisions made, by status.",
    labelnames=["status"],
)
default_probability = Histogram(
    name="credit_default_probability",
    documentation="Default probability of decided applications.",
    buckets=PROBABILITY_BUCKETS,
)


def count(decision: Decision) -> None:
    """Update the decision metrics."""
    decisions_total.labels(status=decision.status).inc()
    default_probability.observe(decision.default_probability)


def count_all(decisions: Sequence[Decision]) -> None:
    """Update the decision metrics for every decision of a request.

    The counter moves once per status rather than once per decision: under
    ``bentoml serve`` every move is a locked write to a shared file.
    """
    per_status: dict[str, int] = {}
    for decision in decisions:
        per_status[decision.status] = per_status.get(decision.status, 0) + 1
        default_probability.observe(decision.default_probability)
    for status, number in per_status.items():
        decisions_total.labels(status=status).inc(number)


def record(
    applications: Sequence[CreditApplication], decisions: Sequence[Decision], latency_ms: float
) -> None:
    """Write one decision record per decision: id, model, inputs, outputs, reasons, latency.

    BentoML's monitor knows only the roles feature/prediction/target and the
    types numerical/categorical, and warns on every other one; identifiers and
    text therefore go in as categorical predictions.
    """
    # Until a worker's first record has fixed the schema, BentoML warns once for
    # every repeated value of a column: that first record goes in alone.
    _write(applications[:1], decisions[:1], latency_ms)
    if len(decisions) > 1:
        _write(applications[1:], decisions[1:], latency_ms)


def _write(
    applications: Sequence[CreditApplication], decisions: Sequence[Decision], latency_ms: float
) -> None:
    with bentoml.monitor(DECISION_MONITOR) as monitor:

        def column(values: Iterable[object], name: str, role: str, data_type: str) -> None:
            monitor.log_batch(list(values), name=name, role=role, data_type=data_type)

        column((d.decision_id for d in decisions), "decision_id", "prediction", "categorical")
        column((d.model_tag for d in decisions), "model_tag", "prediction", "categorical")
        column((d.policy_version for d in decisions), "policy_version", "prediction", "categorical")
        for field in APPLICATION_FIELDS:
            kind = "categorical" if field in CATEGORICAL_FIELDS else "numerical"
            column((getattr(a, field) for a in applications), field, "feature", kind)
        column((d.status for d in decisions), "status", "prediction", "categorical")
        column(
            (d.default_probability for d in decisions),
            "default_probability",
            "prediction",
            "numerical",
        )
        column((d.score for d in decisions), "score", "prediction", "numerical")
        column(
            (" ".join(r.code for r in d.reasons) for d in decisions),
            "reasons",
            "prediction",
            "categorical",
        )
        column(
            (",".join(d.out_of_training_range) for d in decisions),
            "out_of_training_range",
            "prediction",
            "categorical",
        )
        column([round(latency_ms, 3)] * len(decisions), "latency_ms", "prediction", "numerical")
