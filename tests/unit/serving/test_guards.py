"""The request guard alone, in process: what it refuses, with what, and what it lets through.

The API key's own checks (constant-time comparison, several keys, protected paths,
the refusals' counter, open mounts) are in ``tests/unit/serving/test_guards_auth.py``.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from pydantic import SecretStr

from credit_risk.serving.guards import RequestGuard
from tests.unit.serving.harness import EchoApp, Exchange, call, http_scope

LIMIT = 100
CSV_PATH = "/classify_csv"


def _guard(app: EchoApp, api_key: str | None = None) -> RequestGuard:
    return RequestGuard(
        app,
        max_body_bytes=LIMIT,
        api_keys=[SecretStr(api_key)] if api_key else (),
        needs_body=("/classify", CSV_PATH),
        media_types={CSV_PATH: "text/csv"},
    )


def _post(
    path: str,
    chunks: list[bytes],
    headers: dict[str, str] | None = None,
    *,
    api_key: str | None = None,
    disconnect: bool = False,
) -> tuple[Exchange, EchoApp]:
    app = EchoApp()
    scope = http_scope(path, "POST", headers)
    exchange = asyncio.run(call(_guard(app, api_key), scope, chunks, disconnect=disconnect))
    return exchange, app


def _error(exchange: Exchange) -> str:
    assert exchange.headers["content-type"] == "application/json"
    assert int(exchange.headers["content-length"]) == len(exchange.body)
    return str(json.loads(exchange.body)["error"])


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8"])
def test_a_json_body_reaches_the_app_whole(content_type: str) -> None:
    exchange, app = _post("/classify", [b'{"a":', b" 1}"], {"content-type": content_type})
    assert (exchange.status, exchange.body) == (200, b'{"a": 1}')
    assert app.scope is not None


def test_no_content_type_is_read_as_json() -> None:
    exchange, _ = _post("/classify", [b"{}"])
    assert exchange.status == 200


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/classify", "text/csv"),
        ("/classify", "application/x-www-form-urlencoded"),
        (CSV_PATH, "application/json"),
        (CSV_PATH, ""),
    ],
)
def test_another_media_type_is_a_415(path: str, content_type: str) -> None:
    exchange, app = _post(path, [b"x"], {"content-type": content_type} if content_type else {})
    assert exchange.status == 415
    assert "Content-Type must be" in _error(exchange)
    assert app.scope is None


def test_csv_is_taken_where_it_is_declared() -> None:
    exchange, _ = _post(CSV_PATH, [b"a,b\n1,2\n"], {"content-type": "text/csv"})
    assert (exchange.status, exchange.body) == (200, b"a,b\n1,2\n")


def test_a_declared_length_over_the_limit_is_a_413_before_a_byte_is_read() -> None:
    exchange, app = _post("/classify", [b"{}"], {"content-length": str(LIMIT + 1)})
    assert exchange.status == 413
    assert f"larger than {LIMIT} bytes" in _error(exchange)
    assert exchange.received == [] and app.scope is None
    assert "connection" not in exchange.headers


def test_a_streamed_body_over_the_limit_is_a_413_that_closes_the_connection() -> None:
    chunks = [b"x" * 60, b"x" * 60, b"never read"]
    exchange, app = _post("/classify", chunks)
    assert exchange.status == 413
    assert exchange.headers["connection"] == "close"
    assert len(exchange.received) == 2 and app.scope is None


def test_a_body_at_the_limit_passes() -> None:
    exchange, _ = _post("/classify", [b" " * (LIMIT - 2) + b"{}"])
    assert exchange.status == 200


@pytest.mark.parametrize(
    ("path", "content_type", "wanted"),
    [
        ("/classify", "application/json", "the application as JSON"),
        (CSV_PATH, "text/csv", "the applications as CSV with a header line"),
    ],
)
def test_an_empty_body_is_a_400_that_says_what_to_send(
    path: str, content_type: str, wanted: str
) -> None:
    for body in (b"", b" \r\n\t"):
        exchange, app = _post(path, [body], {"content-type": content_type})
        assert exchange.status == 400
        assert _error(exchange) == f"The request body is empty; send {wanted}."
        assert app.scope is None


def test_an_empty_body_is_let_through_where_none_is_needed() -> None:
    exchange, _ = _post("/classify_batch", [b""])
    assert exchange.status == 200


def test_a_client_gone_mid_body_gets_nothing_and_the_app_is_not_called() -> None:
    exchange, app = _post("/classify", [b"{", b"}"], disconnect=True)
    assert exchange.sent == [] and app.scope is None


def test_a_get_without_a_key_to_check_passes_unread() -> None:
    app = EchoApp()
    exchange = asyncio.run(call(_guard(app), http_scope("/model", "GET"), [b"ignored"]))
    assert exchange.status == 200 and app.scope is not None


def test_a_missing_key_is_a_401_with_a_challenge_and_the_body_is_not_read() -> None:
    exchange, app = _post("/classify", [b"{}"], api_key="k" * 32)
    assert exchange.status == 401
    assert exchange.headers["www-authenticate"] == 'Bearer realm="credit-risk"'
    assert "X-API-Key" in _error(exchange)
    assert exchange.received == [] and app.scope is None


def test_a_wrong_key_is_a_401_that_says_so() -> None:
    exchange, _ = _post("/classify", [b"{}"], {"x-api-key": "guess"}, api_key="k" * 32)
    assert exchange.status == 401
    assert exchange.headers["www-authenticate"].endswith('error="invalid_token"')
    assert _error(exchange) == "The API key is not valid."


@pytest.mark.parametrize("header", ["authorization", "x-api-key"])
def test_the_right_key_in_either_header_passes(header: str) -> None:
    key = "k" * 32
    value = f"Bearer {key}" if header == "authorization" else key
    exchange, _ = _post("/classify", [b"{}"], {header: value}, api_key=key)
    assert exchange.status == 200


def test_other_scopes_pass_untouched() -> None:
    app = EchoApp()
    scope = {**http_scope("/classify"), "type": "websocket"}
    exchange = asyncio.run(call(_guard(app, api_key="k" * 32), scope, [b"{}"]))
    assert exchange.status == 200 and app.scope is scope
