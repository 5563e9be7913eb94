"""The serving metrics' labels: what is served (``credit_build_info``), decisions by
model tag, challenger agreement, and the latency buckets handed to BentoML."""

from __future__ import annotations

import importlib.metadata
import math
import statistics
from collections.abc import Iterator

import bentoml
import pytest
from prometheus_client import REGISTRY

from credit_risk.serving import metrics
from tests.support.histograms import histogram_quantile


def _sample(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
def served_tag() -> Iterator[str]:
    """A model tag declared served for the test, the previous one restored after."""
    previous = dict(metrics._served)
    metrics.serving("credit_risk_model:unit", "policy-unit")
    yield "credit_risk_model:unit"
    metrics._served.update(previous)


def test_serving_sets_build_info_and_the_decisions_model_tag(served_tag: str) -> None:
    version = importlib.metadata.version("credit-risk-service")
    info = {"model_tag": served_tag, "policy_version": "policy-unit", "code_version": version}
    assert _sample("credit_build_info", info) == 1
    labels = {"model_tag": served_tag, "status": "MAYBE"}
    before = _sample("credit_decisions_total", labels)
    metrics.count_all(["MAYBE", "APPROVED", "MAYBE"], [0.3, 0.1, 0.4])
    assert _sample("credit_decisions_total", labels) - before == 2


def test_code_version_is_the_bentos_when_served_from_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bentoml.server_context, "bento_version", "abc123")
    assert metrics.code_version() == "bento-abc123"
    monkeypatch.setattr(bentoml.server_context, "bento_version", "not available")
    assert metrics.code_version() == importlib.metadata.version("credit-risk-service")


def test_challenger_decisions_are_counted_by_both_statuses() -> None:
    pairs = [("APPROVED", "APPROVED"), ("MAYBE", "DECLINED"), ("DECLINED", "DECLINED")]

    def counts() -> list[float]:
        return [
            _sample(
                "credit_challenger_decisions_total",
                {
                    "champion_status": champion,
                    "challenger_status": challenger,
                    "agreement": metrics.AGREED if champion == challenger else metrics.DISAGREED,
                },
            )
            for champion, challenger in pairs
        ]

    before = counts()
    champion = ["APPROVED"] * 7 + ["MAYBE"] * 2 + ["DECLINED"]
    challenger = ["APPROVED"] * 7 + ["DECLINED"] * 2 + ["DECLINED"]
    metrics.count_challenger(champion, challenger)
    after = counts()
    assert [a - b for a, b in zip(after, before, strict=True)] == [7, 2, 1]


def test_latency_buckets_resolve_a_millisecond_within_a_few_percent() -> None:
    bounds = metrics.LATENCY_BUCKETS
    assert list(bounds) == sorted(bounds) and bounds[-1] == 30.0
    assert metrics.SERVICE_METRICS_CONFIG["duration"] == {"buckets": list(bounds)}
    # 10,000 answers log-normally spread around 1 ms (sigma 0.5, as latencies skew
    # right): the interpolated p50 and p99 land within 5% of the true ones, where
    # BentoML's default buckets (5 ms first) gave 2.5 ms and 4.95 ms.
    normal = statistics.NormalDist()
    values = [0.001 * math.exp(0.5 * normal.inv_cdf((i + 0.5) / 10_000)) for i in range(10_000)]
    buckets = {bound: float(sum(v <= bound for v in values)) for bound in (*bounds, math.inf)}
    assert histogram_quantile(0.5, buckets) == pytest.approx(0.001, rel=0.05)
    p99 = 0.001 * math.exp(0.5 * normal.inv_cdf(0.99))
    assert histogram_quantile(0.99, buckets) == pytest.approx(p99, rel=0.05)


def test_observe_request_counts_under_the_bounded_labels_with_the_latency_buckets() -> None:
    def count(endpoint: str, status: str) -> float:
        labels = {"endpoint": endpoint, "http_response_code": status}
        return _sample("credit_request_duration_seconds_count", labels)

    before = count("/classify", "200"), count("<unknown>", "431")
    metrics.observe_request(0.0012, 200, "/classify")
    metrics.observe_request(0.0013, 200, "/classify")  # the child kept from the first
    metrics.observe_request(0.5, 431)  # no route known: the one unknown label
    assert (count("/classify", "200") - before[0], count("<unknown>", "431") - before[1]) == (2, 1)
    within = {"endpoint": "/classify", "http_response_code": "200", "le": "0.00126"}
    assert _sample("credit_request_duration_seconds_bucket", within) >= 1
    assert metrics.request_duration._upper_bounds == [*metrics.LATENCY_BUCKETS, math.inf]
