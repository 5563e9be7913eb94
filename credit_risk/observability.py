"""Prometheus metrics of the decisions; their records are ``credit_risk.records``'s job."""

from __future__ import annotations

from collections.abc import Sequence
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
