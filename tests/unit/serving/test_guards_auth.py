"""The optional API key's guard alone, as an ASGI app around a stub, without a server
(over HTTP on a server that has one: ``tests/e2e/test_auth.py``)."""

from __future__ import annotations

import asyncio
import hashlib
import secrets

import pytest
from pydantic import SecretStr, ValidationError

from credit_risk.serving import guards
from credit_risk.serving.guards import RequestGuard
from credit_risk.settings import Settings

API_KEY = secrets.token_urlsafe(32)


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


def test_keys_are_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[tuple[bytes, bytes]] = []

    def compare_digest(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return a == b

    monkeypatch.setattr(guards.hmac, "compare_digest", compare_digest)
    guard = RequestGuard(_ok, max_body_bytes=1024, api_key=SecretStr(API_KEY))
    assert asyncio.run(_call(guard, "/classify", {"X-API-Key": "guess"})) == 401
    assert asyncio.run(_call(guard, "/classify", {"X-API-Key": API_KEY})) == 200
    # Digests are compared, so not even the key's length shows in the timing.
    assert compared and all(len(a) == len(b) == 32 for a, b in compared)
    assert compared[-1][1] == hashlib.sha256(API_KEY.encode()).digest()


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
        _ok, max_body_bytes=1024, api_key=SecretStr(API_KEY), open_mounts=("/app/",)
    )
    assert asyncio.run(_call(guard, path, {"content-type": "application/json"})) == status


@pytest.mark.parametrize("mount", ["/", "", "app"])
def test_a_mount_that_would_open_everything_is_refused(mount: str) -> None:
    with pytest.raises(ValueError, match="open mounts"):
        RequestGuard(_ok, max_body_bytes=1024, api_key=SecretStr(API_KEY), open_mounts=(mount,))


def test_without_a_key_everything_is_open() -> None:
    guard = RequestGuard(_ok, max_body_bytes=1024)
    assert asyncio.run(_call(guard, "/classify", {"content-type": "application/json"})) == 200


@pytest.mark.parametrize("key", ["", "short", "with a space in it, long enough", "é" * 20])
def test_unusable_keys_stop_the_service(monkeypatch: pytest.MonkeyPatch, key: str) -> None:
    monkeypatch.setenv("CREDIT_RISK_API_KEY", key)
    with pytest.raises(ValidationError, match="api_key"):
        Settings()
