"""Prometheus metrics of the decisions; their records are ``credit_risk.records``'s job."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Final

import prometheus_client

PROBABILITY_BUCKETS: Final = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)

# bentoml.metrics is deprecated in 1.4 in favour of prometheus_client, which
# BentoML's /metrics aggregates across workers (PROMETHEUS_MULTIPROC_DIR).
decisions_total = prometheus_client.Counter(
    name="credit_decisions_total",
    documentation="Decisions made, by status.",
    labelnames=["status"],
)
default_probability = prometheus_client.Histogram(
    name="credit_default_probability",
    documentation="Default probability of decided applications.",
    buckets=PROBABILITY_BUCKETS,
)


def count_all(statuses: Sequence[str], default_probabilities: Sequence[float]) -> None:
    """Update the decision metrics for every decision of a request (their statuses
    and default probabilities, in the same order).

    The counter moves once per status rather than once per decision: under
    ``bentoml serve`` every move is a locked write to a shared file.
    """
    for probability in default_probabilities:
        default_probability.observe(probability)
    for status, number in Counter(statuses).items():
        decisions_total.labels(status=status).inc(number)
