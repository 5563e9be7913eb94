"""Fuzzing the contract: schemathesis against the served OpenAPI document.

Over 1,000 generated requests, valid and invalid, across every operation of
``/docs.json``: no 5xx, and every response conforms to the document (status
code, content type, headers and body schema). The seed is fixed so that a
failure in CI reproduces; the report tells how to replay a failing case.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support.servers import Server

CHECKS = ",".join(
    [
        "not_a_server_error",
        "response_schema_conformance",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
    ]
)
"""Left out: ``positive_data_acceptance``, because the API is deliberately
stricter than JSON Schema's ``integer`` (which admits ``26.0``, refused by
``StrictInt``), and ``negative_data_rejection``, which needs no server error to
fail and duplicates ``test_validation.py``."""

MAX_EXAMPLES = 400
"""Per operation and phase: about 1,600 requests in all, under 10 s on two cores."""
MIN_REQUESTS = 1000
SEED = 20261122
TIMEOUT_S = 300

API_ENDPOINTS = ("/classify", "/classify_batch", "/model", "/model/card")
_REQUEST_TOTAL = re.compile(
    r'^bentoml_service_request_total\{endpoint="(?P<endpoint>[^"]+)".*\} (?P<count>[0-9.e+]+)$',
    re.MULTILINE,
)


def _api_requests_served(url: str) -> int:
    """Requests answered so far on the API endpoints, whatever their status, from /metrics."""
    metrics = httpx.get(f"{url}/metrics", timeout=10).text
    return int(
        sum(
            float(match["count"])
            for match in _REQUEST_TOTAL.finditer(metrics)
            if match["endpoint"] in API_ENDPOINTS
        )
    )


# Not the bento: the same code as the source tree's embedded topology, and a minute of
# fuzzing on a loaded 2-core machine; test_bento.py and the bento's classify suites
# check what packaging could change.
@pytest.mark.server_kinds("embedded", "remote")
def test_fuzzing_finds_no_server_error_and_no_response_off_the_schema(
    server: Server, tmp_root: Path
) -> None:
    report = tmp_root / f"schemathesis-{server.topology}.json"
    served_before = _api_requests_served(server.url)
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "st"),
            "run",
            f"{server.url}/docs.json",
            "--checks",
            CHECKS,
            "--max-examples",
            str(MAX_EXAMPLES),
            "--seed",
            str(SEED),
            "--workers",
            "2",
            "--request-timeout",
            "30",
            "--generation-database",
            "none",
            "--report",
            "json",
            "--report-json-path",
            str(report),
            "--no-color",
        ],
        cwd=tmp_root,  # schemathesis keeps a cache folder in its working directory
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    served = _api_requests_served(server.url) - served_before
    summary = json.loads(report.read_text())
    output = result.stdout[-8000:] + result.stderr[-2000:]

    assert result.returncode == 0, output
    assert summary["failures"] == [] and summary["errors"] == [], output
    assert summary["operations"]["tested"] == summary["operations"]["total"] >= 7, output
    assert summary["test_cases"]["generated"] >= MIN_REQUESTS, summary["test_cases"]
    # Counted by the server too: requests that reached the API, not just planned.
    assert served >= MIN_REQUESTS, served


def test_document_declares_every_refusal(server: Server) -> None:
    spec = httpx.get(f"{server.url}/docs.json", timeout=10).json()
    assert spec["openapi"] == "3.1.0"
    schemas = spec["components"]["schemas"]
    for path in API_ENDPOINTS:
        operation = spec["paths"][path]["post"]
        assert {"200", "400", "413", "415"} <= set(operation["responses"]), path
        # No API key configured in this server: nothing to declare.
        assert "401" not in operation["responses"] and "security" not in operation
        # Request and response schemas point at the intact components.
        for body in (operation["requestBody"], operation["responses"]["200"]):
            schema = body["content"]["application/json"]["schema"]
            if path != "/model" or body is not operation["requestBody"]:  # /model takes nothing
                assert schema["$ref"].rsplit("/", 1)[-1] in schemas, (path, schema)
    income = schemas["CreditApplicationIODescriptor"]["properties"]["income"]
    assert {"type": "null"} in income["anyOf"]
