"""The ASGI app that serves the page: Starlette's static files, with strict headers."""

from __future__ import annotations

from pathlib import Path
from typing import Final

from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PAGE_PATH: Final = "/app"
"""Where the page is mounted; Swagger UI keeps ``/``."""

STATIC_DIR: Final = Path(__file__).with_name("static")
"""Only this folder is served: the package's Python files stay out of reach."""

CONTENT_SECURITY_POLICY: Final = "; ".join(
    (
        # Everything from this origin, nothing from anywhere else: the image
        # runs air-gapped, and a page that shows credit decisions loads no
        # third-party script.
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)

SECURITY_HEADERS: Final = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    # Revalidate on every load (ETag): a new bento's page is never stale.
    (b"cache-control", b"no-cache"),
)


class _WithHeaders:
    """ASGI wrapper: adds ``SECURITY_HEADERS`` to every response of ``app``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *SECURITY_HEADERS]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def page_app() -> ASGIApp:
    """The page's files as an ASGI app: ``/`` is ``index.html``, anything else a 404."""
    return _WithHeaders(StaticFiles(directory=STATIC_DIR, html=True))
