"""Prometheus metrics of the decisions; their records are ``credit_risk.records``'s job."""

from __future__ import annotations

from typing import Final

from prometheus_client import Counter, Histogram

from credit_risk.schema import Decision

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
