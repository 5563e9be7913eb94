"""Decision records (``bentoml.monitor``) and Prometheus metrics (``bentoml.metrics``)."""

from __future__ import annotations

from typing import Final

import bentoml

from credit_risk.schema import CreditApplication, Decision
from credit_risk.vocabulary import APPLICATION_FIELDS, CATEGORICAL_FIELDS

DECISION_MONITOR: Final = "credit_decisions"
"""Name of the audit trail; records go to ``<monitoring_dir>/credit_decisions/data/``."""

PROBABILITY_BUCKETS: Final = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)

decisions_total = bentoml.metrics.Counter(
    name="credit_decisions_total",
    documentation="Decisions made, by status.",
    labelnames=["status"],
)
default_probability = bentoml.metrics.Histogram(
    name="credit_default_probability",
    documentation="Default probability of decided applications.",
    buckets=PROBABILITY_BUCKETS,
)


def count(decision: Decision) -> None:
    """Update the decision metrics."""
    decisions_total.labels(status=decision.status).inc()
    default_probability.observe(decision.default_probability)


def record(application: CreditApplication, decision: Decision, latency_ms: float) -> None:
    """Write one decision record: id, model, inputs, outputs, reasons and latency."""
    with bentoml.monitor(DECISION_MONITOR) as monitor:
        monitor.log(decision.decision_id, name="decision_id", role="id", data_type="text")
        monitor.log(decision.model_tag, name="model_tag", role="model", data_type="text")
        monitor.log(decision.policy_version, name="policy_version", role="model", data_type="text")
        for field in APPLICATION_FIELDS:
            monitor.log(
                getattr(application, field),
                name=field,
                role="feature",
                data_type="categorical" if field in CATEGORICAL_FIELDS else "numerical",
            )
        monitor.log(decision.status, name="status", role="prediction", data_type="categorical")
        monitor.log(
            decision.default_probability,
            name="default_probability",
            role="prediction",
            data_type="numerical",
        )
        monitor.log(decision.score, name="score", role="prediction", data_type="numerical")
        monitor.log(
            " ".join(reason.code for reason in decision.reasons),
            name="reasons",
            role="explanation",
            data_type="text",
        )
        monitor.log(
            ",".join(decision.out_of_training_range),
            name="out_of_training_range",
            role="explanation",
            data_type="text",
        )
        monitor.log(round(latency_ms, 3), name="latency_ms", role="latency", data_type="numerical")
