"""Prometheus metrics of the decisions and of what is served; their records are
``credit_risk.records``'s job.

Every name defined here, in ``credit_risk.records.health`` and in ``credit_risk.drift.live``
is what the dashboards (``deploy/monitoring/dashboards``) may query, with BentoML's own
``bentoml_service_*`` series (``BENTOML_METRICS``).

Two histograms time requests. ``credit_request_duration_seconds`` (``request_duration``)
is measured at the wire, by the uvicorn protocol (``credit_risk.serving.heads``): from a
request's first byte parsed to its answer's last byte written. BentoML's
``bentoml_service_request_duration_seconds`` is measured inside its app, from its metrics
middleware being called to the last body handed back to uvicorn, and misses the waits
in between (docs/operations.md#reading-the-metrics).
"""

from __future__ import annotations

import importlib.metadata
from collections import Counter
from collections.abc import Sequence
from typing import Final

import bentoml
import numpy as np
import prometheus_client

from credit_risk.serving.route_labels import UNKNOWN_ENDPOINT

PROBABILITY_BUCKETS: Final = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)

LATENCY_STEP: Final = 2 ** (1 / 3)
"""Three buckets per doubling: interpolating within a bucket (``histogram_quantile``)
is then off by a few percent, where BentoML's default buckets (5 ms, 10 ms, ...) put
every ~1 ms answer in the first one and p50 and p99 could not be read at all."""
LATENCY_BUCKETS: Final = (
    *(float(f"{0.00025 * LATENCY_STEP**k:.3g}") for k in range(37)),
    2.5,
    5.0,
    10.0,
    30.0,
)
"""Request duration buckets, in seconds, of both request histograms (``request_duration``
and BentoML's own): 0.25 ms to 1 s geometrically (the service answers a single
application in about a millisecond, a batch of 1,000 in tens of ms), then coarse up to
the 30 s request timeout."""

BENTOML_METRICS: Final = frozenset(
    {
        "bentoml_service_request_duration_seconds",
        "bentoml_service_request_total",
        "bentoml_service_request_in_progress",
        "bentoml_service_last_request_timestamp_seconds",
        "bentoml_service_adaptive_batch_size",
    }
)
"""The series BentoML 1.4 exposes itself under the ``bentoml_service`` namespace (its
``HTTPTrafficMetricsMiddleware``; the batch size in the remote topology)."""

SERVICE_METRICS_CONFIG: Final = {
    "enabled": True,
    "namespace": "bentoml_service",
    "duration": {"buckets": list(LATENCY_BUCKETS)},
}
"""BentoML's ``metrics`` service configuration (``@bentoml.service(metrics=...)``)."""

NO_MODEL: Final = ""
"""The ``model_tag`` label before the worker knows its model."""

_served = {"model_tag": NO_MODEL}
"""What this worker serves (``serving``); one model per process."""

# bentoml.metrics is deprecated in 1.4 in favour of prometheus_client, which
# BentoML's /metrics aggregates across workers (PROMETHEUS_MULTIPROC_DIR).
decisions_total = prometheus_client.Counter(
    name="credit_decisions_total",
    documentation="Decisions made, by the model that made them and status.",
    # One model per process: the tag adds one value per worker's life, never per request.
    labelnames=["model_tag", "status"],
)
default_probability = prometheus_client.Histogram(
    name="credit_default_probability",
    documentation="Default probability of decided applications.",
    buckets=PROBABILITY_BUCKETS,
)
challenger_decisions_total = prometheus_client.Counter(
    name="credit_challenger_decisions_total",
    documentation="Decisions also scored by a challenger model, by the champion's status, "
    "the challenger's, and whether they agreed.",
    # agreement is derived from the two statuses, kept so that the rules and dashboards
    # that sum by it need no join; 3 x 3 values, bounded.
    labelnames=["champion_status", "challenger_status", "agreement"],
)
challenger_failures_total = prometheus_client.Counter(
    name="credit_challenger_failures_total",
    documentation="Decisions a configured challenger could not score (not loaded, or it "
    "raised); the decisions themselves were made.",
)
build_info = prometheus_client.Gauge(
    name="credit_build_info",
    documentation="1, labelled with the served model tag, its policy version and the code version.",
    labelnames=["model_tag", "policy_version", "code_version"],
    # One series per label set across the live workers, without their pids; an exited
    # worker's series goes with it (``max`` would keep an old model's for good).
    multiprocess_mode="livemax",
)

request_duration = prometheus_client.Histogram(
    name="credit_request_duration_seconds",
    documentation="Requests from their first byte read to their answer's last byte written, "
    "by endpoint (a route, or <unknown>) and status.",
    # endpoint: RouteLabels' bounded label, never the raw path; status: the few the
    # service answers. Bounded both ways, so the children are kept (observe_request).
    labelnames=["endpoint", "http_response_code"],
    buckets=LATENCY_BUCKETS,
)

_request_children: dict[tuple[str, int], prometheus_client.Histogram] = {}
"""``request_duration``'s child per (endpoint, status): ``labels()`` validates, joins and
locks at every call, several times the cost of the dictionary look-up."""

_challenger_children: dict[tuple[str, str], prometheus_client.Counter] = {}
"""``challenger_decisions_total``'s child per (champion, challenger) status: nine at most,
kept, as ``_request_children`` (``labels()`` costs several look-ups)."""

AGREED: Final = "agreed"
DISAGREED: Final = "disagreed"


def code_version() -> str:
    """The served code's version: the bento's version when served from a bento (its
    code and model, content-addressed by ``bentoml build``), else the installed package's.

    Not ``git describe``: a bento or a container image carries no ``.git``.
    """
    bento_version = bentoml.server_context.bento_version
    if bento_version and bento_version != "not available":
        return f"bento-{bento_version}"
    try:
        return importlib.metadata.version("credit-risk-service")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def serving(model_tag: str, policy_version: str) -> None:
    """Declare what this worker serves: ``credit_build_info`` and the ``model_tag`` of
    its decision metrics from now on. Called once the model's card is known."""
    _served["model_tag"] = model_tag
    build_info.labels(
        model_tag=model_tag, policy_version=policy_version, code_version=code_version()
    ).set(1)


def served_model_tag() -> str:
    """The ``model_tag`` label of this worker's decision metrics (``NO_MODEL`` before
    ``serving``)."""
    return _served["model_tag"]


def observe_request(seconds: float, status: int, endpoint: str = UNKNOWN_ENDPOINT) -> None:
    """Observe one answered request in ``credit_request_duration_seconds``.

    Args:
        seconds: from the request's first byte parsed to its answer's last byte written.
        status: the answer's HTTP status.
        endpoint: the request's bounded ``endpoint`` label (``RouteLabels``); requests
            that no route was asked for, or that were refused before a route could be
            known (a 431 or 408 head), are ``UNKNOWN_ENDPOINT``.
    """
    key = (endpoint, status)
    child = _request_children.get(key)
    if child is None:
        child = request_duration.labels(endpoint=endpoint, http_response_code=str(status))
        _request_children[key] = child
    child.observe(seconds)


def count_challenger(champion_statuses: Sequence[str], challenger_statuses: Sequence[str]) -> None:
    """Count decisions that a challenger model also scored, by the served (champion)
    model's status and the challenger's (in the same order), once per pair a request."""
    pairs = Counter(zip(champion_statuses, challenger_statuses, strict=True))
    for pair, number in pairs.items():
        child = _challenger_children.get(pair)
        if child is None:
            champion, challenger = pair
            child = challenger_decisions_total.labels(
                champion_status=champion,
                challenger_status=challenger,
                agreement=AGREED if champion == challenger else DISAGREED,
            )
            _challenger_children[pair] = child
        child.inc(number)


def count_challenger_failures(count: int) -> None:
    """Count decisions a configured challenger could not score."""
    challenger_failures_total.inc(count)


def count_all(statuses: Sequence[str], default_probabilities: Sequence[float]) -> None:
    """Update the decision metrics for every decision of a request (their statuses
    and default probabilities, in the same order), under the model tag of ``serving``.

    Every value moves once per request rather than once per decision: under
    ``bentoml serve`` every move is a locked write to a shared file.
    """
    observe_all(default_probability, default_probabilities)
    for status, number in Counter(statuses).items():
        decisions_total.labels(model_tag=served_model_tag(), status=status).inc(number)


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
