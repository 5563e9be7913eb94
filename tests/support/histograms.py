"""Prometheus histograms read from a ``/metrics`` text, and their quantiles computed as
PromQL's ``histogram_quantile`` does (linear interpolation within the bucket)."""

from __future__ import annotations

import math
from collections.abc import Mapping

from prometheus_client.parser import text_string_to_metric_families

Buckets = dict[float, float]
"""Upper bound (``le``, ``inf`` last) to the cumulative count of observations."""


def read_buckets(metrics_text: str, name: str, labels: Mapping[str, str]) -> Buckets:
    """The cumulative buckets of histogram ``name`` summed over every series whose labels
    include ``labels`` (PromQL's ``sum by (le)``)."""
    buckets: Buckets = {}
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            if sample.name != f"{name}_bucket":
                continue
            if any(sample.labels.get(key) != value for key, value in labels.items()):
                continue
            bound = float(sample.labels["le"])
            buckets[bound] = buckets.get(bound, 0.0) + sample.value
    return dict(sorted(buckets.items()))


def delta(after: Buckets, before: Buckets) -> Buckets:
    """The observations made between two reads (``increase`` without resets)."""
    return {bound: count - before.get(bound, 0.0) for bound, count in after.items()}


def histogram_quantile(quantile: float, buckets: Buckets) -> float:
    """The ``quantile`` (0 to 1) of cumulative ``buckets``, as Prometheus computes it: the
    rank's bucket, and a linear interpolation between its lower and upper bounds (the
    lower bound of the first bucket is 0; a rank in the ``+Inf`` bucket gives the
    highest finite bound). NaN without observations."""
    bounds = sorted(buckets)
    if not bounds or not math.isinf(bounds[-1]) or buckets[bounds[-1]] == 0:
        return math.nan
    rank = quantile * buckets[bounds[-1]]
    lower, below = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if math.isinf(bound):
                return lower
            if count == below:
                return bound
            return lower + (bound - lower) * (rank - below) / (count - below)
        lower, below = bound, count
    return lower
