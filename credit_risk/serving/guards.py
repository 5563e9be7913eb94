"""What stands between the network and the API: API key, content type, body size.

``RequestGuard`` is an ASGI middleware registered on the classifier service. It
answers the cheap refusals itself, before BentoML reads or parses anything:

* 401 when an API key is configured and the request does not carry it
  (``Authorization: Bearer <key>`` or ``X-API-Key: <key>``), except on the open
  paths: health probes, metrics, the API documentation and the mounted pages
  (whose own API calls carry the key);
* 415 when a POST says its body is anything but JSON (``text/csv`` on the paths
  given in ``media_types``, and only there);
* 413 when a body is larger than the limit, by its ``Content-Length`` before a
  byte is read, or while a chunked body streams in;
* 400 when an endpoint that needs an application gets an empty body.

Every refusal is a small JSON ``{"error": ...}`` with the same shape as
BentoML's own errors (``responses.refusal``). The 400s BentoML answers itself
(validation errors) are kept out of the log's tracebacks by ``logs``.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from typing import Final

from pydantic import SecretStr
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from credit_risk.serving.asgi import read_body, replay_body
from credit_risk.serving.responses import JSON_MEDIA_TYPE, refusal

OPEN_PATHS: Final = frozenset(
    {"/livez", "/readyz", "/healthz", "/metrics", "/", "/docs.json", "/schema.json"}
)
"""Paths that never need the API key: probes and scrapers cannot hold secrets,
and the API's own description is not one."""

OPEN_PREFIXES: Final = ("/static_content/",)
"""The Swagger UI's scripts and styles, served under the open ``/``."""

BODY_METHODS: Final = frozenset({"POST", "PUT", "PATCH"})

_AUTH_HINT: Final = "send it as 'Authorization: Bearer <key>' or 'X-API-Key: <key>'"


class RequestGuard:
    """ASGI middleware: API key, content type and body size, checked before the app runs."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        api_key: SecretStr | None = None,
        needs_body: Iterable[str] = (),
        open_mounts: Iterable[str] = (),
        media_types: Mapping[str, str] | None = None,
    ) -> None:
        """Guard ``app``.

        Args:
            app: the ASGI application behind the guard.
            max_body_bytes: largest request body let through.
            api_key: when set, required on every path but ``OPEN_PATHS`` and
                ``open_mounts``.
            needs_body: paths whose POST must carry a body (their input is required).
            open_mounts: where static pages are mounted (``/app``): the mount point
                and everything under it are open, as pages hold no secret.
            media_types: paths whose body is not JSON, and the one media type each takes
                (``/classify_csv``: ``text/csv``); every other path takes JSON only.
        """
        self.app = app
        self.max_body_bytes = max_body_bytes
        self._key_digest = _digest(api_key.get_secret_value()) if api_key is not None else None
        self.needs_body = frozenset(needs_body)
        mounts = tuple(mount.rstrip("/") for mount in open_mounts)
        if not all(mount.startswith("/") for mount in mounts):
            # "/" would open every path: fail closed on a mount that is no path below it.
            raise ValueError(f"open mounts must be paths below '/': {list(open_mounts)}")
        self._open_paths = OPEN_PATHS | frozenset(mounts)
        self._open_prefixes = (*OPEN_PREFIXES, *(f"{mount}/" for mount in mounts))
        self.media_types = dict(media_types or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse what fails a check; pass the rest on with its body already read."""
        if scope["type"] != "http" or (
            self._key_digest is None and scope["method"] not in BODY_METHODS
        ):
            # Nothing to check: no key to ask for, no body to bound.
            await self.app(scope, receive, send)
            return
        refused = self._check_headers(scope, _headers(scope))
        if refused is None and scope["method"] in BODY_METHODS:
            # BentoML reads the whole body anyway; reading it here first, bounded,
            # is what lets a chunked body be cut off at the limit.
            body = await read_body(receive, self.max_body_bytes)
            if body is None:  # the client went away
                return
            refused = self._check_body(scope["path"], body)
            receive = replay_body(body, receive)
        if refused is not None:
            await refused(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _check_headers(self, scope: Scope, headers: dict[str, str]) -> Response | None:
        if self._key_digest is not None and not self._is_open(scope["path"]):
            presented = _presented_keys(headers)
            if not presented:
                return refusal(401, f"This service needs an API key; {_AUTH_HINT}.", _CHALLENGE)
            # compare_digest takes as long whatever the mismatch, and comparing
            # fixed-length digests hides the key's length too: the time of a 401
            # tells nothing about how much of a guess was right.
            if not any(hmac.compare_digest(_digest(key), self._key_digest) for key in presented):
                return refusal(401, "The API key is not valid.", _CHALLENGE_INVALID)
        if scope["method"] not in BODY_METHODS:
            return None
        media_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        # No Content-Type at all is read as JSON, as BentoML does. Anything else
        # is refused: BentoML would otherwise parse forms and multipart bodies.
        expected = self.media_types.get(scope["path"], JSON_MEDIA_TYPE)
        if media_type != expected and not (expected == JSON_MEDIA_TYPE and media_type == ""):
            return refusal(415, f"Content-Type must be {expected}, not {media_type!r}.")
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            # Refused on the header alone: not one byte of the body is read.
            return refusal(413, self._too_large())
        return None

    def _check_body(self, path: str, body: bytes) -> Response | None:
        if len(body) > self.max_body_bytes:
            # We stopped reading mid-stream, so the rest of the body is still
            # on the wire: close the connection rather than drain it.
            return refusal(413, self._too_large(), {"Connection": "close"})
        if path in self.needs_body and (not body or body.isspace()):
            what = (
                "the applications as CSV with a header line"
                if path in self.media_types
                else "the application as JSON"
            )
            return refusal(400, f"The request body is empty; send {what}.")
        return None

    def _is_open(self, path: str) -> bool:
        return path in self._open_paths or path.startswith(self._open_prefixes)

    def _too_large(self) -> str:
        return (
            f"The request body is larger than {self.max_body_bytes} bytes; "
            "send fewer applications per batch."
        )


_CHALLENGE: Final = {"WWW-Authenticate": 'Bearer realm="credit-risk"'}
_CHALLENGE_INVALID: Final = {
    "WWW-Authenticate": 'Bearer realm="credit-risk", error="invalid_token"'
}


_CHECKED_HEADERS: Final = frozenset(
    {b"authorization", b"x-api-key", b"content-type", b"content-length"}
)


def _headers(scope: Scope) -> dict[str, str]:
    # Header names arrive lower-cased; latin-1 maps every byte, so no header
    # can make the decoding fail. Only the headers checked are decoded.
    return {
        name.decode("latin-1"): value.decode("latin-1")
        for name, value in scope["headers"]
        if name in _CHECKED_HEADERS
    }


def _presented_keys(headers: dict[str, str]) -> list[str]:
    keys = []
    scheme, _, token = headers.get("authorization", "").strip().partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        keys.append(token.strip())
    if api_key := headers.get("x-api-key", "").strip():
        keys.append(api_key)
    return keys


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("latin-1", "replace")).digest()
