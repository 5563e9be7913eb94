"""Bounded metric labels: a path that no route serves becomes one ``endpoint`` label.

BentoML's metrics middleware (``RunnerTrafficMetricsMiddleware``, BentoML 1.4.39) is
the outermost of its Starlette app and labels every request with ``scope["path"]``
as it comes in: each distinct unknown path (a scanner's) added series for good,
12 KiB of ``/metrics`` per path, 100 paths 1.2 MiB. Middlewares added with
``Service.add_asgi_middleware`` run after it, too late to change what it records.

So the label is set in two places:

* ``RouteLabels``, outside BentoML's app (``heads.install_bounded_heads(outermost=...)``
  puts it there), replaces ``scope["path"]`` with a bounded label before BentoML's
  middlewares read it: an API route's own path, a mount's prefix for anything under
  it (``/app``, ``/static_content``), the paths that our own middlewares answer
  (``extra_paths``), and ``UNKNOWN_ENDPOINT`` for everything else. It also leaves the
  label under ``ENDPOINT_KEY``, where the protocol's own histogram finds it
  (``credit_request_duration_seconds``, ``heads.py``);
* ``RestorePath``, the first middleware added with ``add_asgi_middleware``, puts the
  real path back, so that our middlewares and BentoML's routing see the request as it
  came (an unknown path is still a 401 without the key, then a 404).

Between the two sit BentoML's metrics, tracing, access log and timeout middlewares.
The access log would print the label; ``AccessLogPaths`` puts the real path back in
its lines. Nothing changes for a request to an API route: its label is its path.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Iterable
from typing import Any, Final

from starlette.applications import Starlette
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

logger = logging.getLogger("credit_risk.route_labels")

UNKNOWN_ENDPOINT: Final = "<unknown>"
"""The ``endpoint`` label of every path no route serves. Not a path a route can match,
and no prefix of BentoML's skip lists (``/livez``...): such requests are still counted."""

ORIGINAL_PATH_KEY: Final = "credit_risk.original_path"
"""Where ``RouteLabels`` keeps the real path in the scope for ``RestorePath``."""

ENDPOINT_KEY: Final = "credit_risk.endpoint"
"""Where ``RouteLabels`` leaves the request's label in the scope, the same dict uvicorn's
protocol holds: ``heads.BoundedHeadProtocol`` labels its request histogram with it."""

ACCESS_LOGGER: Final = "bentoml.access"
"""BentoML's access log (``bentoml/_internal/server/http/access.py``)."""

_LABELLED_SCOPES: Final = frozenset({"http", "websocket"})
_SEARCH_DEPTH: Final = 8
"""How many ``.app`` wrappers (uvicorn's proxy-headers middleware...) may stand
between ``RouteLabels`` and BentoML's Starlette app."""

_real_path: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "credit_risk_real_path", default=None
)


class RouteLabels:
    """ASGI middleware, outside BentoML's app: a bounded label in ``scope["path"]``."""

    def __init__(self, app: ASGIApp, *, extra_paths: Iterable[str] = ()) -> None:
        """Label requests to ``app``.

        Args:
            app: uvicorn's app: BentoML's Starlette app, maybe wrapped.
            extra_paths: paths that no route has but a middleware answers (SageMaker's
                ``/ping``, ``/invocations``); each keeps its own label.
        """
        self.app = app
        self._extra_paths = frozenset(extra_paths)
        self._exact: dict[str, str] | None = None
        self._templated: list[tuple[Route, str]] = []
        self._mounts: list[tuple[str, str]] = []
        self._restores = False
        self._raw = False
        install_access_log_paths()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Put the request's label in ``scope["path"]``, the real path in the scope."""
        if scope["type"] not in _LABELLED_SCOPES:
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        label = self.label(path)
        # For the protocol's histogram (heads.py), which reads it when the answer is out.
        scope[ENDPOINT_KEY] = label
        if label == path:
            await self.app(scope, receive, send)
            return
        scope[ORIGINAL_PATH_KEY] = path
        scope["path"] = label
        token = _real_path.set(path)
        try:
            await self.app(scope, receive, send)
        finally:
            _real_path.reset(token)

    def label(self, path: str) -> str:
        """The ``endpoint`` label of a request to ``path``."""
        if self._exact is None:
            self._learn_routes()
        if self._raw:
            return path
        assert self._exact is not None
        known = self._exact.get(path)
        if known is not None:
            return known
        for route, template in self._templated:
            if route.path_regex.match(path):
                return template
        for prefix, mount_label in self._mounts:
            if path == prefix or path.startswith(prefix + "/"):
                # The mount serves it (or answers its own 404): one label per mount,
                # and only with RestorePath behind us to give the mount its path back.
                return mount_label if self._restores else path
        return UNKNOWN_ENDPOINT

    def _learn_routes(self) -> None:
        # Once, at the first request: BentoML has built every route and mount by then.
        exact = {path: path for path in self._extra_paths}
        starlette = _find_starlette(self.app)
        if starlette is None:
            logger.warning("No Starlette app behind %r: endpoint labels stay raw paths", self.app)
            self._exact = {}
            self._raw = True
            return
        for route in starlette.routes:
            if isinstance(route, Mount):
                self._mounts.append((route.path, route.path or "/"))
            elif isinstance(route, Route):
                if route.param_convertors:
                    self._templated.append((route, route.path))
                else:
                    exact[route.path] = route.path
        self._restores = any(entry.cls is RestorePath for entry in starlette.user_middleware)
        if self._mounts and not self._restores:
            logger.warning(
                "RestorePath is not among the service's middlewares: paths under mounts "
                "keep their own endpoint labels"
            )
        self._exact = exact


def _find_starlette(app: Any) -> Starlette | None:
    for _ in range(_SEARCH_DEPTH):
        if isinstance(app, Starlette):
            return app
        app = getattr(app, "app", None)
        if app is None:
            return None
    return None


class RestorePath:
    """ASGI middleware, first of those added with ``add_asgi_middleware``: the real path
    back in ``scope["path"]``, after BentoML's middlewares have read the label."""

    def __init__(self, app: ASGIApp) -> None:
        """Restore paths for ``app``."""
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Put back the path ``RouteLabels`` replaced, if it replaced one."""
        original = scope.pop(ORIGINAL_PATH_KEY, None)
        if original is not None:
            scope["path"] = original
        await self.app(scope, receive, send)


class AccessLogPaths(logging.Filter):
    """BentoML's access log line with the request's real path rather than its label."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite ``path=<label>`` in the request part of the line; never drop a line."""
        real = _real_path.get()
        if real is not None and isinstance(record.args, tuple) and len(record.args) > 1:
            request = record.args[1]
            if isinstance(request, str):
                # "scheme=http,method=GET,path=<unknown>[,type=...]": the label has no comma.
                fixed = ",".join(
                    f"path={real}" if part.startswith("path=") else part
                    for part in request.split(",")
                )
                record.args = (record.args[0], fixed, *record.args[2:])
        return True


def install_access_log_paths() -> None:
    """Install ``AccessLogPaths`` on BentoML's access log, once per process."""
    access = logging.getLogger(ACCESS_LOGGER)
    if not any(isinstance(existing, AccessLogPaths) for existing in access.filters):
        access.addFilter(AccessLogPaths())
