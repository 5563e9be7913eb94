"""The optional API key over HTTP, on a server that has one (the guard's logic alone:
``tests/unit/serving/test_guards_auth.py``)."""

from __future__ import annotations

import secrets
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import bentoml
import httpx
import pytest

from credit_risk.schema import COURSE_EXAMPLE
from tests.support.servers import Server, start_server

API_KEY = secrets.token_urlsafe(32)
OPEN_PATHS = ["/livez", "/readyz", "/healthz", "/metrics", "/", "/docs.json", "/app/"]
GUARDED = [
    ("/classify", COURSE_EXAMPLE),
    ("/classify_batch", {"applications": [COURSE_EXAMPLE]}),
    ("/model", {}),
]


@pytest.fixture(scope="module")
def keyed_server(tmp_root: Path, trained_model: str) -> Iterator[Server]:
    """The service with CREDIT_RISK_API_KEY set (embedded: the guard is the same in both)."""
    running = start_server(tmp_root, "embedded", extra_env={"CREDIT_RISK_API_KEY": API_KEY})
    yield running
    running.stop()


@pytest.fixture
def anonymous(keyed_server: Server) -> Iterator[httpx.Client]:
    """A client that presents no key."""
    with httpx.Client(base_url=keyed_server.url, timeout=30) as http:
        yield http


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
