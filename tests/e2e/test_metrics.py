"""What ``/metrics`` says on a served instance: latency buckets that resolve a ~1 ms
answer, ``credit_build_info`` naming what is served, and decisions by model tag.

How close the histogram's quantiles come to a client's is measured, not asserted:
``benchmarks/latency_quantiles.py`` (docs/operations.md#reading-the-metrics).
"""

from __future__ import annotations

import importlib.metadata
import math

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from credit_risk.schema import COURSE_EXAMPLE
from credit_risk.serving.metrics import LATENCY_BUCKETS
from tests.support.histograms import delta, histogram_quantile, read_buckets

DURATION = "bentoml_service_request_duration_seconds"
CLASSIFY = {"endpoint": "/classify", "http_response_code": "200"}


def _samples(client: httpx.Client, name: str) -> list[tuple[dict[str, str], float]]:
    return [
        (sample.labels, sample.value)
        for family in text_string_to_metric_families(client.get("/metrics").text)
        for sample in family.samples
        if sample.name == name
    ]


def test_latency_buckets_resolve_a_millisecond(client: httpx.Client) -> None:
    before = read_buckets(client.get("/metrics").text, DURATION, CLASSIFY)
    for _ in range(20):
        assert client.post("/classify", json=COURSE_EXAMPLE).status_code == 200
    after = read_buckets(client.get("/metrics").text, DURATION, CLASSIFY)
    # BentoML's default buckets start at 5 ms: every ~1 ms answer fell in the first.
    assert [bound for bound in after if not math.isinf(bound)] == list(LATENCY_BUCKETS)
    assert sum(0.0005 <= bound <= 0.002 for bound in after) >= 6
    observed = delta(after, before)
    assert observed[math.inf] == 20
    p50 = histogram_quantile(0.5, observed)
    assert 0 < p50 <= histogram_quantile(0.99, observed) <= max(LATENCY_BUCKETS)


def test_build_info_names_the_served_model_policy_and_code(
    client: httpx.Client, request: pytest.FixtureRequest
) -> None:
    # The worker learns its model with its first decision.
    assert client.post("/classify", json=COURSE_EXAMPLE).status_code == 200
    card = client.post("/model", json={}).json()
    info = _samples(client, "credit_build_info")
    assert info, "credit_build_info is missing"
    assert {value for _, value in info} == {1.0}
    labels = {tuple(sorted(labels.items())) for labels, _ in info}
    assert len(labels) == 1, info  # one per label set, whichever workers served
    (found,) = (dict(item) for item in labels)
    assert found["model_tag"] == card["model_tag"]
    assert found["policy_version"] == card["policy"]["version"]
    if request.node.callspec.params["server"] == "bento":
        assert found["code_version"].startswith("bento-"), found
    else:
        assert found["code_version"] == importlib.metadata.version("credit-risk-service")


def _decisions(client: httpx.Client) -> dict[tuple[str, str], float]:
    return {
        (labels["model_tag"], labels["status"]): value
        for labels, value in _samples(client, "credit_decisions_total")
    }


def test_decisions_are_counted_by_model_tag_and_status(client: httpx.Client) -> None:
    before = _decisions(client)
    decision = client.post("/classify", json=COURSE_EXAMPLE).json()
    tag = client.post("/model", json={}).json()["model_tag"]
    after = _decisions(client)
    key = (tag, decision["status"])
    assert after[key] - before.get(key, 0.0) == 1
    assert {model for model, _ in after} == {tag}
    assert sum(after.values()) - sum(before.values()) == 1
