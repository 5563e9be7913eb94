"""The optional API key over HTTP, on servers that have one (the guard's logic alone:
``tests/unit/serving/test_guards_auth.py``): one key with the defaults, then a rotation
(two keys, the first one removed) with ``/metrics`` and the documents protected."""

from __future__ import annotations

import secrets
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

import bentoml
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from credit_risk.schema import COURSE_EXAMPLE
from tests.support.servers import Server, start_server

API_KEY = secrets.token_urlsafe(32)
NEXT_KEY = secrets.token_urlsafe(32)
OTHER_KEY = secrets.token_urlsafe(32)
REFUSALS: Final = "credit_api_key_refusals_total"
OPEN_PATHS = ["/livez", "/readyz", "/healthz", "/metrics", "/", "/docs.json", "/app/"]
GUARDED = [
    ("/classify", COURSE_EXAMPLE),
    ("/classify_batch", {"applications": [COURSE_EXAMPLE]}),
    ("/model", {}),
    ("/model/card", {"format": "markdown"}),
]


def _serving(tmp_root: Path, env: dict[str, str]) -> Iterator[Server]:
    # Embedded: the guard is the same in both topologies.
    running = start_server(tmp_root, "embedded", extra_env=env)
    yield running
    running.stop()


def _client(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        yield http


@pytest.fixture(scope="module")
def keyed_server(tmp_root: Path, trained_model: str) -> Iterator[Server]:
    """The service with CREDIT_RISK_API_KEY set."""
    yield from _serving(tmp_root, {"CREDIT_RISK_API_KEY": API_KEY})


@pytest.fixture
def anonymous(keyed_server: Server) -> Iterator[httpx.Client]:
    """A client that presents no key."""
    yield from _client(keyed_server)


@pytest.mark.parametrize(("path", "body"), GUARDED, ids=[path for path, _ in GUARDED])
def test_no_key_is_a_401_with_a_challenge(
    anonymous: httpx.Client, path: str, body: dict[str, object]
) -> None:
    response = anonymous.post(path, json=body)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "X-API-Key" in response.json()["error"]


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": f"Bearer {API_KEY[:-1]}"},
        {"Authorization": f"Bearer {API_KEY}x"},
        {"Authorization": f"Basic {API_KEY}"},
        {"X-API-Key": API_KEY.upper()},
        {"X-API-Key": ""},
    ],
    ids=["truncated", "extended", "basic scheme", "wrong case", "empty"],
)
def test_wrong_key_is_a_401(anonymous: httpx.Client, headers: dict[str, str]) -> None:
    response = anonymous.post("/classify", json=COURSE_EXAMPLE, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": f"Bearer {API_KEY}"},
        {"Authorization": f"bearer  {API_KEY}"},
        {"X-API-Key": API_KEY},
    ],
    ids=["bearer", "lower-case bearer", "x-api-key"],
)
@pytest.mark.parametrize(("path", "body"), GUARDED, ids=[path for path, _ in GUARDED])
def test_right_key_is_served(
    anonymous: httpx.Client, headers: dict[str, str], path: str, body: dict[str, object]
) -> None:
    response = anonymous.post(path, json=body, headers=headers)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("path", OPEN_PATHS)
def test_probes_metrics_and_docs_stay_open(anonymous: httpx.Client, path: str) -> None:
    assert anonymous.get(path).status_code == 200


def test_unknown_paths_need_the_key_too(anonymous: httpx.Client) -> None:
    # Deny by default: without the key, nobody learns which paths exist.
    assert anonymous.get("/admin").status_code == 401
    assert anonymous.get("/admin", headers={"X-API-Key": API_KEY}).status_code == 404


def test_unauthenticated_body_is_never_read(keyed_server: Server) -> None:
    address = urlsplit(keyed_server.url)
    with socket.create_connection((address.hostname, address.port), timeout=5) as raw:
        raw.sendall(
            b"POST /classify HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
            b"Content-Length: 10485760\r\n\r\n"
        )
        assert raw.recv(4096).startswith(b"HTTP/1.1 401")


def test_document_declares_the_key(anonymous: httpx.Client) -> None:
    spec = anonymous.get("/docs.json").json()
    assert set(spec["components"]["securitySchemes"]) == {"bearerAuth", "apiKeyHeader"}
    for path, _ in GUARDED:
        operation = spec["paths"][path]["post"]
        assert "401" in operation["responses"]
        assert operation["security"] == [{"bearerAuth": []}, {"apiKeyHeader": []}]


def test_bentoml_client_passes_the_key_as_token(keyed_server: Server) -> None:
    with bentoml.SyncHTTPClient(keyed_server.url, token=API_KEY) as http:
        assert http.classify(COURSE_EXAMPLE)["status"] in ("APPROVED", "MAYBE", "DECLINED")


# The rotation: API_KEY removed; NEXT_KEY (the single-key variable) and OTHER_KEY
# (the list) both valid; /metrics and the documents behind them.
ROTATED_ENV: Final = {
    "CREDIT_RISK_API_KEY": NEXT_KEY,
    "CREDIT_RISK_API_KEYS": OTHER_KEY,
    "CREDIT_RISK_PROTECT_METRICS": "true",
    "CREDIT_RISK_PROTECT_DOCS": "true",
}
PROTECTED_GETS = ["/metrics", "/docs.json", "/schema.json", "/"]


@pytest.fixture(scope="module")
def rotated_server(tmp_root: Path, trained_model: str) -> Iterator[Server]:
    """The service in the middle of a key rotation, with /metrics and docs protected."""
    yield from _serving(tmp_root, ROTATED_ENV)


@pytest.fixture
def rotated(rotated_server: Server) -> Iterator[httpx.Client]:
    """A client of the rotated server that presents no key."""
    yield from _client(rotated_server)


def _refusals(http: httpx.Client, headers: dict[str, str]) -> dict[str, float]:
    scraped = http.get("/metrics", headers=headers)
    assert scraped.status_code == 200
    return {
        sample.labels["reason"]: sample.value
        for family in text_string_to_metric_families(scraped.text)
        for sample in family.samples
        if sample.name == REFUSALS
    }


@pytest.mark.parametrize(
    "headers",
    [{"Authorization": f"Bearer {NEXT_KEY}"}, {"X-API-Key": OTHER_KEY}],
    ids=["CREDIT_RISK_API_KEY", "CREDIT_RISK_API_KEYS"],
)
def test_during_a_rotation_both_keys_are_served(
    rotated: httpx.Client, headers: dict[str, str]
) -> None:
    response = rotated.post("/classify", json=COURSE_EXAMPLE, headers=headers)
    assert response.status_code == 200, response.text


def test_a_removed_key_is_refused(rotated: httpx.Client) -> None:
    response = rotated.post("/classify", json=COURSE_EXAMPLE, headers={"X-API-Key": API_KEY})
    assert response.status_code == 401
    assert "invalid_token" in response.headers["www-authenticate"]


@pytest.mark.parametrize("path", PROTECTED_GETS)
def test_protected_metrics_and_documents_need_a_key(rotated: httpx.Client, path: str) -> None:
    assert rotated.get(path).status_code == 401
    assert rotated.get(path, headers={"X-API-Key": API_KEY}).status_code == 401
    assert rotated.get(path, headers={"Authorization": f"Bearer {NEXT_KEY}"}).status_code == 200


@pytest.mark.parametrize("path", ["/livez", "/readyz", "/healthz", "/app/"])
def test_probes_and_the_page_stay_open_when_protected(rotated: httpx.Client, path: str) -> None:
    assert rotated.get(path).status_code == 200


def test_protected_document_still_declares_the_key(rotated: httpx.Client) -> None:
    spec = rotated.get("/docs.json", headers={"X-API-Key": OTHER_KEY}).json()
    security = [{"bearerAuth": []}, {"apiKeyHeader": []}]
    assert spec["paths"]["/classify"]["post"]["security"] == security
    assert spec["paths"]["/metrics"]["get"]["security"] == security
    assert "401" in spec["paths"]["/metrics"]["get"]["responses"]


def test_key_refusals_are_counted_on_metrics(rotated: httpx.Client) -> None:
    keyed = {"X-API-Key": NEXT_KEY}
    before = _refusals(rotated, keyed)
    assert set(before) == {"missing", "invalid"}  # both series, from the start
    for headers in ({}, {}, {"X-API-Key": API_KEY}, {"Authorization": "Bearer guess"}):
        assert rotated.post("/classify", json=COURSE_EXAMPLE, headers=headers).status_code == 401
    assert rotated.get("/metrics").status_code == 401
    # Served requests and open paths are not refusals.
    assert rotated.post("/classify", json=COURSE_EXAMPLE, headers=keyed).status_code == 200
    assert rotated.get("/livez").status_code == 200
    after = _refusals(rotated, keyed)
    assert after == {"missing": before["missing"] + 3, "invalid": before["invalid"] + 2}


def test_bentoml_client_reads_the_protected_schema_with_its_token(
    rotated_server: Server,
) -> None:
    # The client fetches /schema.json before its first call: with the docs
    # protected, that needs the key as well, which `token` sends.
    with bentoml.SyncHTTPClient(rotated_server.url, token=OTHER_KEY) as http:
        assert http.classify(COURSE_EXAMPLE)["status"] in ("APPROVED", "MAYBE", "DECLINED")
