"""The optional API key's guard alone, as an ASGI app around a stub, without a server
(over HTTP on a server that has one: ``tests/e2e/test_auth.py``)."""

from __future__ import annotations

import asyncio
import hashlib
import secrets

import prometheus_client
import pytest
from pydantic import SecretStr, ValidationError

from credit_risk.serving import guards
from credit_risk.serving.guards import RequestGuard, protected_paths
from credit_risk.serving.openapi import amend_openapi
from credit_risk.settings import MAX_API_KEYS, Settings
from tests.unit.serving.harness import EchoApp, call, http_scope

API_KEY = secrets.token_urlsafe(32)
NEXT_KEY = secrets.token_urlsafe(32)


async def _call(guard: RequestGuard, path: str, headers: dict[str, str]) -> int:
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": path,
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }
    await guard(scope, receive, send)
    return int(sent[0]["status"])  # type: ignore[call-overload]


async def _ok(scope: object, receive: object, send: object) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})  # type: ignore[operator]
    await send({"type": "http.response.body", "body": b""})  # type: ignore[operator]


def _keyed(*keys: str, **options: bool) -> RequestGuard:
    return RequestGuard(
        _ok, max_body_bytes=1024, api_keys=[SecretStr(key) for key in keys], **options
    )


def _get(guard: RequestGuard, path: str, headers: dict[str, str] | None = None) -> int:
    return asyncio.run(call(guard, http_scope(path, "GET", headers))).status


def test_keys_are_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[tuple[bytes, bytes]] = []

    def compare_digest(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return a == b

    monkeypatch.setattr(guards.hmac, "compare_digest", compare_digest)
    guard = _keyed(API_KEY)
    assert asyncio.run(_call(guard, "/classify", {"X-API-Key": "guess"})) == 401
    assert asyncio.run(_call(guard, "/classify", {"X-API-Key": API_KEY})) == 200
    # Digests are compared, so not even the key's length shows in the timing.
    assert compared and all(len(a) == len(b) == 32 for a, b in compared)
    assert hashlib.sha256(API_KEY.encode()).digest() in {known for _, known in compared}


@pytest.mark.parametrize("configured", [1, 2, MAX_API_KEYS])
@pytest.mark.parametrize("presented", ["first", "last", "none"])
def test_every_key_is_compared_whichever_matches_and_however_many(
    monkeypatch: pytest.MonkeyPatch, configured: int, presented: str
) -> None:
    # Fails on an early exit (any(...)) or on comparing only the keys configured:
    # the work, so the time, would tell which key matched or how many there are.
    compared: list[bytes] = []

    def compare_digest(a: bytes, b: bytes) -> bool:
        compared.append(b)
        return a == b

    monkeypatch.setattr(guards.hmac, "compare_digest", compare_digest)
    keys = [secrets.token_urlsafe(32) for _ in range(configured)]
    key = {"first": keys[0], "last": keys[-1], "none": "guess"}[presented]
    status = asyncio.run(_call(_keyed(*keys), "/classify", {"X-API-Key": key}))
    assert status == (401 if presented == "none" else 200)
    assert len(compared) == len(set(compared)) == MAX_API_KEYS


def test_more_keys_than_the_most_are_refused() -> None:
    with pytest.raises(ValueError, match="at most"):
        _keyed(*(secrets.token_urlsafe(32) for _ in range(MAX_API_KEYS + 1)))


@pytest.mark.parametrize(
    "headers",
    [{"X-API-Key": API_KEY}, {"X-API-Key": NEXT_KEY}, {"Authorization": f"Bearer {NEXT_KEY}"}],
    ids=["old key", "new key", "new key as bearer"],
)
def test_during_a_rotation_both_keys_are_valid(headers: dict[str, str]) -> None:
    assert asyncio.run(_call(_keyed(API_KEY, NEXT_KEY), "/classify", headers)) == 200


def test_a_removed_key_is_refused() -> None:
    guard = _keyed(NEXT_KEY)
    assert asyncio.run(_call(guard, "/classify", {"X-API-Key": API_KEY})) == 401
    # One valid key among those presented is enough; the removed one does no harm.
    both = {"X-API-Key": API_KEY, "Authorization": f"Bearer {NEXT_KEY}"}
    assert asyncio.run(_call(guard, "/classify", both)) == 200


@pytest.mark.parametrize("path", ["/livez", "/readyz", "/healthz", "/metrics", "/", "/docs.json"])
def test_probes_metrics_and_documents_are_open_by_default(path: str) -> None:
    assert _get(_keyed(API_KEY), path) == 200


@pytest.mark.parametrize(
    ("options", "protected", "still_open"),
    [
        ({"protect_metrics": True}, ["/metrics"], ["/livez", "/docs.json", "/"]),
        (
            {"protect_docs": True},
            ["/", "/docs.json", "/schema.json", "/static_content/index.css"],
            ["/metrics", "/readyz"],
        ),
    ],
    ids=["metrics", "docs"],
)
def test_protected_paths_need_a_key(
    options: dict[str, bool], protected: list[str], still_open: list[str]
) -> None:
    guard = _keyed(API_KEY, NEXT_KEY, **options)
    for path in protected:
        assert _get(guard, path) == 401, path
        assert _get(guard, path, {"Authorization": f"Bearer {NEXT_KEY}"}) == 200, path
    for path in still_open:
        assert _get(guard, path) == 200, path


def test_protection_without_keys_opens_nothing_new() -> None:
    # No key at all: nothing to protect with, so the guard checks nothing (the
    # settings refuse this combination before it gets here).
    guard = RequestGuard(EchoApp(), max_body_bytes=1024, protect_metrics=True)
    assert _get(guard, "/metrics") == 200


def _refusals(reason: str) -> float:
    sample = prometheus_client.REGISTRY.get_sample_value(
        "credit_api_key_refusals_total", {"reason": reason}
    )
    return sample or 0.0


def test_refusals_are_counted_by_reason() -> None:
    guard = _keyed(API_KEY, protect_metrics=True)
    before = {reason: _refusals(reason) for reason in (guards.MISSING, guards.INVALID)}
    assert asyncio.run(_call(guard, "/classify", {})) == 401
    assert _get(guard, "/metrics", {"X-API-Key": "guess"}) == 401
    assert _get(guard, "/metrics", {"Authorization": "Bearer guess"}) == 401
    # Neither a served request nor an open path counts.
    assert asyncio.run(_call(guard, "/classify", {"X-API-Key": API_KEY})) == 200
    assert _get(guard, "/livez") == 200
    assert _refusals(guards.MISSING) == before[guards.MISSING] + 1
    assert _refusals(guards.INVALID) == before[guards.INVALID] + 2


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/app", 200),
        ("/app/", 200),
        ("/app/app.js", 200),
        ("/app/../classify", 200),  # the guard opens it; the mount's files answer 404
        ("/application", 401),
        ("/apps/x", 401),
        ("/docs.json/x", 401),
    ],
)
def test_open_mounts_are_open_below_them_and_nowhere_else(path: str, status: int) -> None:
    guard = RequestGuard(
        _ok, max_body_bytes=1024, api_keys=[SecretStr(API_KEY)], open_mounts=("/app/",)
    )
    assert asyncio.run(_call(guard, path, {"content-type": "application/json"})) == status


@pytest.mark.parametrize("mount", ["/", "", "app"])
def test_a_mount_that_would_open_everything_is_refused(mount: str) -> None:
    with pytest.raises(ValueError, match="open mounts"):
        RequestGuard(_ok, max_body_bytes=1024, api_keys=[SecretStr(API_KEY)], open_mounts=(mount,))


def test_without_a_key_everything_is_open() -> None:
    guard = RequestGuard(_ok, max_body_bytes=1024)
    assert asyncio.run(_call(guard, "/classify", {"content-type": "application/json"})) == 200


@pytest.mark.parametrize("key", ["", "short", "with a space in it, long enough", "é" * 20])
def test_unusable_keys_stop_the_service(monkeypatch: pytest.MonkeyPatch, key: str) -> None:
    monkeypatch.setenv("CREDIT_RISK_API_KEY", key)
    with pytest.raises(ValidationError, match="api_key"):
        Settings()


def test_the_document_declares_the_key_on_protected_paths() -> None:
    paths = protected_paths(protect_metrics=True, protect_docs=False)
    doc = {"paths": {"/metrics": {"get": {"responses": {}}}, "/livez": {"get": {}}}}
    amended = amend_openapi(doc, max_body_bytes=1024, api_key_required=True, protected_paths=paths)
    metrics = amended["paths"]["/metrics"]["get"]
    assert "401" in metrics["responses"]
    assert metrics["security"] == [{"bearerAuth": []}, {"apiKeyHeader": []}]
    assert "security" not in amended["paths"]["/livez"]["get"]
    # Open by default: nothing declared.
    assert protected_paths(protect_metrics=False, protect_docs=False) == frozenset()
