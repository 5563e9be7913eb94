"""What ``/metrics`` says on a served instance: latency buckets that resolve a ~1 ms
answer, the protocol's own request histogram (``credit_request_duration_seconds``: every
request counted once, with its route's label and status, the 431 refusals included, and
each one's time enclosing BentoML's), ``credit_build_info`` naming what is served, and
decisions by model tag.

How close the histogram's quantiles come to a client's is measured, not asserted:
``benchmarks/latency_quantiles.py`` (docs/operations.md#reading-the-metrics).
"""

from __future__ import annotations

import importlib.metadata
import math
import re
import socket
from urllib.parse import urlsplit

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from credit_risk.schema import COURSE_EXAMPLE
from credit_risk.serving.metrics import LATENCY_BUCKETS
from credit_risk.serving.route_labels import UNKNOWN_ENDPOINT
from tests.support.histograms import Buckets, delta, histogram_quantile, read_buckets
from tests.support.servers import Server, raw_classify_request

DURATION = "bentoml_service_request_duration_seconds"
WIRE = "credit_request_duration_seconds"
CLASSIFY = {"endpoint": "/classify", "http_response_code": "200"}
REQUESTS = 25
OVERSIZED_HEAD = 70_000
"""Over ``CREDIT_RISK_MAX_HEAD_BYTES`` (64 KiB by default): answered 431 by the protocol."""


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


def _raw_exchange(server: Server, request: bytes, answers: int) -> bytes:
    """Write ``request`` on one connection; what comes back until ``answers`` heads came
    and the connection went quiet, or it was closed."""
    parts = urlsplit(server.url)
    assert parts.hostname is not None and parts.port is not None
    received = b""
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as raw:
        raw.sendall(request)
        try:
            while received.count(b"HTTP/1.1 ") < answers or not received.endswith(b"}"):
                chunk = raw.recv(65536)
                if not chunk:
                    break
                received += chunk
        except (TimeoutError, ConnectionResetError):
            pass
    return received


def _counts(text: str, labels: dict[str, str]) -> float:
    return read_buckets(text, WIRE, labels).get(math.inf, 0.0)


def test_the_protocol_times_every_request_once_with_its_route_and_status(
    server: Server, client: httpx.Client
) -> None:
    text = client.get("/metrics").text
    wire_before, app_before = (
        read_buckets(text, WIRE, CLASSIFY),
        read_buckets(text, DURATION, CLASSIFY),
    )
    refused_before = _counts(text, {"endpoint": UNKNOWN_ENDPOINT, "http_response_code": "431"})

    for _ in range(REQUESTS):
        assert client.post("/classify", json=COURSE_EXAMPLE).status_code == 200
    # Two requests pipelined in one write: each counted, answered in order.
    pipelined = _raw_exchange(server, raw_classify_request() * 2, answers=2)
    assert pipelined.count(b"HTTP/1.1 200") == 2, pipelined[:300]
    # Unknown paths: one label for all, under the status they were answered.
    statuses = {client.get(f"/no-such-page-{i}").status_code for i in range(3)}
    assert len(statuses) == 1, statuses
    (unknown_status,) = statuses
    unknown = {"endpoint": UNKNOWN_ENDPOINT, "http_response_code": str(unknown_status)}
    unknown_before = _counts(text, unknown)
    # A head over the limit, answered 431 by the protocol itself.
    filler = b"a" * OVERSIZED_HEAD
    refused = _raw_exchange(
        server, b"GET /classify HTTP/1.1\r\nHost: test\r\nX-Filler: " + filler + b"\r\n\r\n", 1
    )
    assert refused.startswith(b"HTTP/1.1 431"), refused[:200]

    after = client.get("/metrics").text
    wire = delta(read_buckets(after, WIRE, CLASSIFY), wire_before)
    app = delta(read_buckets(after, DURATION, CLASSIFY), app_before)
    assert wire[math.inf] == REQUESTS + 2
    assert app[math.inf] == REQUESTS + 2
    assert [bound for bound in wire if not math.isinf(bound)] == list(LATENCY_BUCKETS)
    _assert_encloses(wire, app)
    assert _counts(after, unknown) - unknown_before == 3
    assert _counts(after, {"endpoint": UNKNOWN_ENDPOINT, "http_response_code": "431"}) == (
        refused_before + 1
    )
    labels = set(re.findall(rf'^{WIRE}_count{{endpoint="([^"]*)"', after, re.MULTILINE))
    assert not any("no-such" in label for label in labels), labels


def _assert_encloses(wire: Buckets, app: Buckets) -> None:
    """Each request's clock at the wire (from its first byte parsed to its answer written)
    runs around BentoML's (from its middleware called to its last body handed over): so
    under every bound there are at most as many of the first as of the second."""
    for bound, count in wire.items():
        assert count <= app[bound], (bound, wire, app)
    assert histogram_quantile(0.5, wire) >= histogram_quantile(0.5, app)


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
