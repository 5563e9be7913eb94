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
BentoML's own errors. ``quiet_client_error_logs`` keeps the 400s BentoML
answers itself (validation errors) from flooding the log with tracebacks that
also quote the applicant's data.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any, Final

from pydantic import SecretStr, ValidationError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

OPEN_PATHS: Final = frozenset(
    {"/livez", "/readyz", "/healthz", "/metrics", "/", "/docs.json", "/schema.json"}
)
"""Paths that never need the API key: probes and scrapers cannot hold secrets,
and the API's own description is not one."""

OPEN_PREFIXES: Final = ("/static_content/",)
"""The Swagger UI's scripts and styles, served under the open ``/``."""

BODY_METHODS: Final = frozenset({"POST", "PUT", "PATCH"})

JSON_MEDIA_TYPE: Final = "application/json"

BENTOML_REQUEST_LOGGER: Final = "bentoml._internal.server.http_app"
"""Where BentoML logs every exception of an API call, validation errors included."""

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
        refusal = self._check_headers(scope, _headers(scope))
        if refusal is None and scope["method"] in BODY_METHODS:
            body = await self._read_body(receive)
            if body is None:  # the client went away
                return
            refusal = self._check_body(scope["path"], body)
            if isinstance(body, bytes):
                receive = replay_body(body, receive)
        if refusal is not None:
            await refusal.send(send)
            return
        await self.app(scope, receive, send)

    def _check_headers(self, scope: Scope, headers: dict[str, str]) -> Refusal | None:
        if self._key_digest is not None and not self._is_open(scope["path"]):
            presented = _presented_keys(headers)
            if not presented:
                return Refusal(401, f"This service needs an API key; {_AUTH_HINT}.", _CHALLENGE)
            # compare_digest takes as long whatever the mismatch, and comparing
            # fixed-length digests hides the key's length too: the time of a 401
            # tells nothing about how much of a guess was right.
            if not any(hmac.compare_digest(_digest(key), self._key_digest) for key in presented):
                return Refusal(401, "The API key is not valid.", _CHALLENGE_INVALID)
        if scope["method"] not in BODY_METHODS:
            return None
        media_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        # No Content-Type at all is read as JSON, as BentoML does. Anything else
        # is refused: BentoML would otherwise parse forms and multipart bodies.
        expected = self.media_types.get(scope["path"], JSON_MEDIA_TYPE)
        if media_type != expected and not (expected == JSON_MEDIA_TYPE and media_type == ""):
            return Refusal(415, f"Content-Type must be {expected}, not {media_type!r}.")
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            # Refused on the header alone: not one byte of the body is read.
            return Refusal(413, self._too_large())
        return None

    def _check_body(self, path: str, body: bytes | _TooLarge) -> Refusal | None:
        if isinstance(body, _TooLarge):
            # We stopped reading mid-stream, so the rest of the body is still
            # on the wire: close the connection rather than drain it.
            return Refusal(413, self._too_large(), ((b"connection", b"close"),))
        if path in self.needs_body and (not body or body.isspace()):
            what = (
                "the applications as CSV with a header line"
                if path in self.media_types
                else "the application as JSON"
            )
            return Refusal(400, f"The request body is empty; send {what}.")
        return None

    async def _read_body(self, receive: Receive) -> bytes | _TooLarge | None:
        # BentoML reads the whole body anyway; reading it here first, bounded,
        # is what lets a chunked body be cut off at the limit.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return _TooLarge()
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    def _is_open(self, path: str) -> bool:
        return path in self._open_paths or path.startswith(self._open_prefixes)

    def _too_large(self) -> str:
        return (
            f"The request body is larger than {self.max_body_bytes} bytes; "
            "send fewer applications per batch."
        )


class _TooLarge:
    """Marker: the body went over the limit while streaming in."""


@dataclass(frozen=True)
class Refusal:
    """An answer given instead of the app's: a status and a JSON ``{"error": ...}``."""

    status: int
    error: str
    headers: tuple[tuple[bytes, bytes], ...] = ()

    async def send(self, send: Send) -> None:
        """Send the whole response."""
        body = json.dumps({"error": self.error}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": self.status,
                "headers": [
                    (b"content-type", JSON_MEDIA_TYPE.encode()),
                    (b"content-length", str(len(body)).encode()),
                    *self.headers,
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


_CHALLENGE: Final = ((b"www-authenticate", b'Bearer realm="credit-risk"'),)
_CHALLENGE_INVALID: Final = (
    (b"www-authenticate", b'Bearer realm="credit-risk", error="invalid_token"'),
)


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


def replay_body(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives the app ``body``, already read, as one message."""
    delivered = False

    async def replay() -> Message:
        nonlocal delivered
        if delivered:
            # After the body, only a disconnect can come: ask the server.
            return await receive()
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


class ClientErrorLogFilter(logging.Filter):
    """Turns BentoML's ERROR-with-traceback for an invalid request into one INFO line.

    BentoML logs every pydantic ``ValidationError`` of an API call as an error
    with a 25-line traceback whose last line quotes the offending input; a
    client error is neither a server error nor a reason to copy applicant data
    into the log. The line kept names the fields and what was wrong with them.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite validation-error records in place; let everything else through."""
        error = record.exc_info[1] if record.exc_info else None
        # Only errors in parsing the request are the client's: a ValidationError
        # raised by our own code is a bug and keeps its traceback.
        if isinstance(error, ValidationError) and _raised_parsing_the_request(error):
            problems = error.errors(include_url=False, include_context=False, include_input=False)
            summary = "; ".join(
                f"{'.'.join(map(str, problem['loc'])) or 'body'}: {problem['msg']}"
                for problem in problems[:3]
            )
            more = f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""
            message = str(record.msg).replace("Exception on", "Invalid input on", 1)
            record.msg = f"{message}: 400, {error.error_count()} validation error(s): %s%s"
            record.args = (*_as_tuple(record.args), summary, more)
            record.exc_info = None
            record.exc_text = None
            record.levelno = logging.INFO
            record.levelname = logging.getLevelName(logging.INFO)
        return True


REQUEST_PARSERS: Final = frozenset({"from_http_request", "parse_request"})
"""BentoML's functions that turn a request body into the API's input model."""


def _raised_parsing_the_request(error: BaseException) -> bool:
    frame = error.__traceback__
    while frame is not None:
        if frame.tb_frame.f_code.co_name in REQUEST_PARSERS:
            return True
        frame = frame.tb_next
    return False


def _as_tuple(args: Any) -> tuple[Any, ...]:
    if args is None:
        return ()
    return args if isinstance(args, tuple) else (args,)


def quiet_client_error_logs() -> None:
    """Install ``ClientErrorLogFilter`` on BentoML's request logger, once per process."""
    logger = logging.getLogger(BENTOML_REQUEST_LOGGER)
    if not any(isinstance(existing, ClientErrorLogFilter) for existing in logger.filters):
        logger.addFilter(ClientErrorLogFilter())
