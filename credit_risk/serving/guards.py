"""What stands between the network and the API: API key, content type, body size.

``RequestGuard`` is an ASGI middleware registered on the classifier service. It
answers the cheap refusals itself, before BentoML reads or parses anything:

* 401 when API keys are configured and the request carries none of them
  (``Authorization: Bearer <key>`` or ``X-API-Key: <key>``), except on the open
  paths: health probes, metrics and the API documentation (each of these two
  unless protected) and the mounted pages (whose own API calls carry the key);
  every 401 is counted on ``/metrics`` by reason (``credit_api_key_refusals_total``);
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
import secrets
from collections.abc import Iterable, Mapping
from typing import Final

import prometheus_client
from pydantic import SecretStr
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from credit_risk.serving.asgi import read_body, replay_body
from credit_risk.serving.responses import JSON_MEDIA_TYPE, refusal
from credit_risk.settings import MAX_API_KEYS

PROBE_PATHS: Final = frozenset({"/livez", "/readyz", "/healthz"})
"""Paths that never need the API key: orchestrators' probes cannot hold secrets."""

METRICS_PATH: Final = "/metrics"
"""Open unless protected: Prometheus scrapes without credentials unless told to."""

DOC_PATHS: Final = frozenset({"/", "/docs.json", "/schema.json"})
"""Open unless protected: the API's own description is not a secret."""

DOC_PREFIXES: Final = ("/static_content/",)
"""The Swagger UI's scripts and styles, served under ``/``."""

MISSING: Final = "missing"
"""Refusal reason: no key was presented."""
INVALID: Final = "invalid"
"""Refusal reason: a key was presented, and none of them is valid."""

# Two label values only: a counter labelled by path or by the key presented would
# grow a series per scanner's guess.
key_refusals_total = prometheus_client.Counter(
    name="credit_api_key_refusals_total",
    documentation="Requests refused 401 for their API key, by reason: missing or invalid.",
    labelnames=["reason"],
)

BODY_METHODS: Final = frozenset({"POST", "PUT", "PATCH"})

_AUTH_HINT: Final = "send it as 'Authorization: Bearer <key>' or 'X-API-Key: <key>'"


class RequestGuard:
    """ASGI middleware: API key, content type and body size, checked before the app runs."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        api_keys: Iterable[SecretStr] = (),
        protect_metrics: bool = False,
        protect_docs: bool = False,
        needs_body: Iterable[str] = (),
        open_mounts: Iterable[str] = (),
        media_types: Mapping[str, str] | None = None,
    ) -> None:
        """Guard ``app``.

        Args:
            app: the ASGI application behind the guard.
            max_body_bytes: largest request body let through.
            api_keys: the valid keys (several during a rotation); when any, one of
                them is required on every path but the probes, the metrics and the
                documents (unless protected) and ``open_mounts``.
            protect_metrics: with keys, ``/metrics`` needs one too.
            protect_docs: with keys, the API documents and the Swagger UI need one too.
            needs_body: paths whose POST must carry a body (their input is required).
            open_mounts: where static pages are mounted (``/app``): the mount point
                and everything under it are open, as pages hold no secret.
            media_types: paths whose body is not JSON, and the one media type each takes
                (``/classify_csv``: ``text/csv``); every other path takes JSON only.
        """
        self.app = app
        self.max_body_bytes = max_body_bytes
        self._key_digests = _padded_digests(api_keys)
        self.needs_body = frozenset(needs_body)
        mounts = tuple(mount.rstrip("/") for mount in open_mounts)
        if not all(mount.startswith("/") for mount in mounts):
            # "/" would open every path: fail closed on a mount that is no path below it.
            raise ValueError(f"open mounts must be paths below '/': {list(open_mounts)}")
        open_paths = PROBE_PATHS | {METRICS_PATH} | DOC_PATHS | set(mounts)
        open_prefixes = [f"{mount}/" for mount in mounts]
        if not protect_docs:
            open_prefixes += DOC_PREFIXES
        protected = protected_paths(protect_metrics=protect_metrics, protect_docs=protect_docs)
        self._open_paths = frozenset(open_paths - protected)
        self._open_prefixes = tuple(open_prefixes)
        if self._key_digests:
            # Both series from the start, at 0: a rate() needs a first sample.
            for reason in (MISSING, INVALID):
                key_refusals_total.labels(reason=reason)
        self.media_types = dict(media_types or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse what fails a check; pass the rest on with its body already read."""
        if scope["type"] != "http" or (
            not self._key_digests and scope["method"] not in BODY_METHODS
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
        if self._key_digests and not self._is_open(scope["path"]):
            presented = _presented_keys(headers)
            if not presented:
                key_refusals_total.labels(reason=MISSING).inc()
                return refusal(401, f"This service needs an API key; {_AUTH_HINT}.", _CHALLENGE)
            if not self._is_valid(presented):
                key_refusals_total.labels(reason=INVALID).inc()
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

    def _is_valid(self, presented: list[str]) -> bool:
        # compare_digest takes as long whatever the mismatch, and comparing
        # fixed-length digests hides the key's length too: the time of a 401
        # tells nothing about how much of a guess was right. Every presented key
        # meets every digest, padding included, with no early exit: the time
        # tells neither which key matched nor how many keys there are.
        matched = False
        for key in presented:
            digest = _digest(key)
            for known in self._key_digests:
                matched |= hmac.compare_digest(digest, known)
        return matched

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


def protected_paths(*, protect_metrics: bool, protect_docs: bool) -> frozenset[str]:
    """The paths, open by default, that need the key when asked to (besides the
    Swagger UI's assets, under ``DOC_PREFIXES``)."""
    return frozenset(
        ({METRICS_PATH} if protect_metrics else set()) | (DOC_PATHS if protect_docs else set())
    )


def _padded_digests(api_keys: Iterable[SecretStr]) -> tuple[bytes, ...]:
    # The keys' digests, then random ones up to MAX_API_KEYS (no key hashes to a
    # random 32 bytes, so they never match); none at all when no key is set.
    digests = [_digest(key.get_secret_value()) for key in api_keys]
    if len(digests) > MAX_API_KEYS:
        raise ValueError(f"at most {MAX_API_KEYS} API keys, not {len(digests)}")
    if not digests:
        return ()
    padding = [secrets.token_bytes(len(digests[0])) for _ in range(MAX_API_KEYS - len(digests))]
    return (*digests, *padding)


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("latin-1", "replace")).digest()
