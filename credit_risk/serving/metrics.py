"""Prometheus metrics of the decisions; their records are ``credit_risk.records``'s job."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Final

import numpy as np
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

    Every value moves once per request rather than once per decision: under
    ``bentoml serve`` every move is a locked write to a shared file.
    """
    observe_all(default_probability, default_probabilities)
    for status, number in Counter(statuses).items():
        decisions_total.labels(status=status).inc(number)


def observe_all(histogram: prometheus_client.Histogram, values: Sequence[float]) -> None:
    """``histogram.observe`` of every value, each bucket and the sum moved once.

    ``prometheus_client`` has no bulk observe; one by one, a batch of 1,000 took 8% of
    a loaded worker. This moves the histogram's own values (``_buckets``, ``_sum``, as
    its ``observe`` does, pinned version), and ``tests/unit/test_decisions.py`` holds the
    result equal to observing one by one.
    """
    if len(values) == 1:
        histogram.observe(values[0])
        return
    bounds = histogram._upper_bounds
    # observe() counts a value in the first bucket whose bound it does not exceed.
    buckets = np.bincount(np.searchsorted(bounds, values, side="left"), minlength=len(bounds))
    for bucket, number in enumerate(buckets.tolist()):
        if number:
            histogram._buckets[bucket].inc(number)
    histogram._sum.inc(float(np.sum(values)))
