"""Makes BentoML's OpenAPI document (``/docs.json``) tell the truth about the API.

BentoML 1.4.39 generates a document that clients and fuzzers cannot trust:

* it says ``openapi: 3.0.2`` but embeds pydantic v2 schemas, which are JSON
  Schema 2020-12 (``exclusiveMinimum: 0``, ``anyOf`` with ``type: null``): valid
  OpenAPI 3.1, invalid 3.0, so a strict 3.0 validator rejects the document;
* it inlines each request and response schema through a flattening that keeps
  only the first branch of every ``anyOf``: ``income``, ``assets`` and ``debt``
  lose their ``null``, so the document refuses what the API accepts (the
  schemas under ``components`` are intact, so operations point there instead);
* it declares a 400 whose ``detail`` is a string, while BentoML answers
  validation errors with a list of ``{loc, msg, type}``;
* it cannot know our own refusals (``credit_risk.serving.guards``): 401, 413, 415;
* it describes ``/classify_csv``'s text body as a JSON object (its ``IODescriptor``).

``OpenAPIDocument`` is an ASGI middleware that rewrites the document as it is
served; ``amend_openapi`` is the rewrite itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

import orjson
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Receive, Scope, Send

from credit_risk.csv_format import CSV_MEDIA_TYPE, DECISION_COLUMNS
from credit_risk.serving.asgi import rewriting
from credit_risk.serving.csv_body import CSV_EXAMPLE
from credit_risk.vocabulary import APPLICATION_FIELDS

DOC_PATH: Final = "/docs.json"
OPENAPI_VERSION: Final = "3.1.0"

CLIENT_ERROR: Final = "ClientError"
CLIENT_ERROR_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "title": CLIENT_ERROR,
    "description": "Why the request was refused; detail lists each invalid field.",
    "required": ["error"],
    "properties": {
        "error": {"type": "string", "title": "Message"},
        "detail": {
            "type": "array",
            "title": "Invalid fields",
            "items": {
                "type": "object",
                "required": ["loc", "msg", "type"],
                "properties": {
                    "loc": {
                        "type": "array",
                        "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
                    },
                    "msg": {"type": "string"},
                    "type": {"type": "string"},
                },
            },
        },
    },
}

SECURITY_SCHEMES: Final[dict[str, Any]] = {
    "bearerAuth": {"type": "http", "scheme": "bearer", "description": "The API key."},
    "apiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
}


def _error_response(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {
            "application/json": {"schema": {"$ref": f"#/components/schemas/{CLIENT_ERROR}"}}
        },
    }


def amend_openapi(
    doc: dict[str, Any],
    *,
    max_body_bytes: int,
    api_key_required: bool,
    protected_paths: Iterable[str] = (),
) -> dict[str, Any]:
    """The document with its version, error responses and security made accurate;
    ``protected_paths`` (``/metrics``, say) need the key on their GET as well."""
    doc["openapi"] = OPENAPI_VERSION
    components = doc.setdefault("components", {})
    components.setdefault("schemas", {})[CLIENT_ERROR] = CLIENT_ERROR_SCHEMA
    if api_key_required:
        components["securitySchemes"] = SECURITY_SCHEMES
        for path in protected_paths:
            operation = doc.get("paths", {}).get(path, {}).get("get")
            if operation is not None:
                _declare_key(operation)
    for path_item in doc.get("paths", {}).values():
        operation = path_item.get("post")
        # Service APIs carry x-bentoml-name; health probes and /metrics do not.
        if not operation or "x-bentoml-name" not in operation:
            continue
        schemas = components["schemas"]
        name = operation["x-bentoml-name"]
        _point_at_component(operation.get("requestBody", {}), schemas, name)
        responses = operation.setdefault("responses", {})
        _point_at_component(responses.get("200", {}), schemas, name)
        body_types = list(operation.get("requestBody", {}).get("content", {}))
        if body_types == [CSV_MEDIA_TYPE]:
            _declare_csv_body(operation)
            responses["400"] = _error_response(
                "Invalid CSV or application: detail gives [line, column] of each problem"
            )
            responses["415"] = _error_response(f"Content-Type other than {CSV_MEDIA_TYPE}")
        else:
            responses["400"] = _error_response("Invalid application, JSON or empty body")
            responses["415"] = _error_response("Content-Type other than application/json")
        responses["413"] = _error_response(f"Body larger than {max_body_bytes} bytes")
        if api_key_required:
            _declare_key(operation)
    return doc


def _declare_key(operation: dict[str, Any]) -> None:
    operation.setdefault("responses", {})["401"] = _error_response("Missing or invalid API key")
    operation["security"] = [{name: []} for name in SECURITY_SCHEMES]


def _declare_csv_body(operation: dict[str, Any]) -> None:
    # BentoML describes the body as its IODescriptor, a JSON object; it is CSV text.
    header = ",".join(APPLICATION_FIELDS)
    operation["requestBody"] = {
        "required": True,
        "content": {
            CSV_MEDIA_TYPE: {
                "schema": {
                    "type": "string",
                    "description": f"A header line ({header}), then one application per "
                    "line. A cell means what it would as a JSON value; empty is null.",
                },
                "example": CSV_EXAMPLE,
            }
        },
    }
    columns = ",".join(DECISION_COLUMNS)
    operation["responses"]["200"] = {
        "description": f"Decisions in the order of the rows, with a header line ({columns})",
        "content": {CSV_MEDIA_TYPE: {"schema": {"type": "string"}}},
    }


def _point_at_component(body: dict[str, Any], schemas: dict[str, Any], api: str) -> None:
    # The inlined schema keeps its model's title, which names the intact component; the
    # input BentoML builds from an API's parameters is titled "Input", its component
    # "<api>__Input".
    for media in body.get("content", {}).values():
        title = media.get("schema", {}).get("title")
        for name in (title, f"{api}__{title}"):
            if name in schemas:
                media["schema"] = {"$ref": f"#/components/schemas/{name}"}
                break


class OpenAPIDocument:
    """ASGI middleware: serves ``/docs.json`` through ``amend_openapi``."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        api_key_required: bool,
        protected_paths: Iterable[str] = (),
    ) -> None:
        """Amend the document that ``app`` serves.

        Args:
            app: the ASGI application that serves ``/docs.json``.
            max_body_bytes: the body limit to document for 413.
            api_key_required: whether to document the API key and 401.
            protected_paths: paths whose GET needs the key though BentoML's own
                (``/metrics`` when protected).
        """
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.api_key_required = api_key_required
        self.protected_paths = tuple(protected_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass everything through, amending the document on its way out."""
        if scope["type"] != "http" or scope["path"] != DOC_PATH or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        await self.app(scope, receive, rewriting(send, self._amend))

    def _amend(self, status: int, headers: MutableHeaders, body: bytes) -> bytes | None:
        if status != 200:
            return None
        amended = amend_openapi(
            orjson.loads(body),
            max_body_bytes=self.max_body_bytes,
            api_key_required=self.api_key_required,
            protected_paths=self.protected_paths,
        )
        return orjson.dumps(amended)
