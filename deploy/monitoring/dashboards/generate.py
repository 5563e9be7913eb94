"""The Grafana dashboard of the service, as code: ``credit-risk.json`` is generated here.

    python deploy/monitoring/dashboards/generate.py          # rewrites credit-risk.json

Plain dicts, written with sorted keys and ids numbered in panel order, so the same code
always writes the same bytes: ``tests/unit/test_dashboards.py`` regenerates it and fails
when the committed file is stale, and checks that every query names only metrics the
service defines. ``dashboard_expressions()`` lists every PromQL expression (the rules'
e2e test evaluates each through a real Prometheus). ``render.py`` draws its layout.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Final

HERE = Path(__file__).resolve().parent
OUTPUT: Final = HERE / "credit-risk.json"

DATASOURCE: Final = {"type": "prometheus", "uid": "${datasource}"}
RATE: Final = "$__rate_interval"
CLASSIFY: Final = 'endpoint=~"/classify.*"'
"""The decision endpoints: /classify, /classify_batch, /classify_csv."""
FULL_WIDTH: Final = 24
PANEL_HEIGHT: Final = 8

Panel = dict[str, Any]


def target(expr: str, legend: str, ref: str) -> dict[str, Any]:
    """One Prometheus query of a panel, drawn as ``legend``."""
    return {"datasource": DATASOURCE, "expr": expr, "legendFormat": legend, "refId": ref}


def panel(
    title: str,
    queries: list[tuple[str, str]],
    *,
    unit: str = "short",
    kind: str = "timeseries",
    width: int = 12,
    description: str = "",
    thresholds: list[tuple[str, float | None]] | None = None,
) -> Panel:
    """A panel of ``kind`` showing ``queries`` (expression, legend); placed by ``layout``."""
    steps = [{"color": color, "value": value} for color, value in thresholds or [("green", None)]]
    return {
        "datasource": DATASOURCE,
        "description": description,
        "fieldConfig": {
            "defaults": {"thresholds": {"mode": "absolute", "steps": steps}, "unit": unit},
            "overrides": [],
        },
        "gridPos": {"h": PANEL_HEIGHT, "w": width, "x": 0, "y": 0},
        "options": {},
        "targets": [
            target(expr, legend, chr(ord("A") + index))
            for index, (expr, legend) in enumerate(queries)
        ],
        "title": title,
        "type": kind,
    }


WIRE_DURATION: Final = "credit_request_duration_seconds"
"""The service's request histogram, timed by its uvicorn protocol from a request's first
byte to its answer's last: what a client sees, less the network."""
APP_DURATION: Final = "bentoml_service_request_duration_seconds"
"""BentoML's, timed inside its app: without the waits for the event loop."""


def quantile(q: float, endpoint: str, histogram: str = WIRE_DURATION) -> str:
    """PromQL for quantile ``q`` of a request duration ``histogram`` at ``endpoint``."""
    return (
        f"histogram_quantile({q}, sum by (le) (rate("
        f'{histogram}_bucket{{endpoint="{endpoint}"}}[{RATE}])))'
    )


def panels() -> list[Panel]:
    """Every panel, in reading order (left to right, top to bottom)."""
    return [
        panel(
            "Traffic",
            [
                (
                    "sum by (endpoint) "
                    f"(rate(bentoml_service_request_total{{{CLASSIFY}}}[{RATE}]))",
                    "{{endpoint}}",
                )
            ],
            unit="reqps",
            description="Requests per second to the decision endpoints.",
        ),
        panel(
            "Errors",
            [
                (
                    "sum by (http_response_code) (rate(bentoml_service_request_total"
                    f'{{{CLASSIFY}, http_response_code=~"4..|5.."}}[{RATE}]))',
                    "{{http_response_code}}",
                )
            ],
            unit="reqps",
            description="Refused (4xx) and failed (5xx, 503 while records cannot be written).",
        ),
        panel(
            "Latency quantiles",
            [
                (quantile(0.5, "/classify"), "/classify p50"),
                (quantile(0.99, "/classify", APP_DURATION), "/classify p99 in the app"),
                (quantile(0.99, "/classify"), "/classify p99"),
                (quantile(0.99, "/classify_batch"), "/classify_batch p99"),
            ],
            unit="s",
            description="At the wire (the service's uvicorn protocol: from a request's "
            "first byte to its answer's last, the alert's), and /classify's p99 inside "
            "BentoML's app, which misses the waits for the event loop: a gap between the "
            "two p99s is queueing (docs/operations.md#reading-the-metrics).",
        ),
        panel(
            "Decisions by status",
            [(f"sum by (status) (rate(credit_decisions_total[{RATE}]))", "{{status}}")],
            unit="ops",
        ),
        panel(
            "Approval rate",
            [
                (
                    f'sum(rate(credit_decisions_total{{status="APPROVED"}}[{RATE}])) '
                    f"/ sum(rate(credit_decisions_total[{RATE}]))",
                    "approved",
                )
            ],
            unit="percentunit",
        ),
        panel(
            "Decisions by model",
            [(f"sum by (model_tag) (rate(credit_decisions_total[{RATE}]))", "{{model_tag}}")],
            unit="ops",
            description="During a rollout, both models' shares.",
        ),
        panel(
            "Default probability distribution",
            [(f"sum by (le) (increase(credit_default_probability_bucket[{RATE}]))", "{{le}}")],
            kind="heatmap",
            description="Decisions per default-probability bucket.",
        ),
        panel(
            "PSI per field",
            [
                ("max by (field) (credit_feature_psi)", "{{field}}"),
                ("max(credit_score_psi)", "default probability"),
            ],
            description="Drift of the recent decisions against the training reference: "
            "0.1 watch, 0.25 act (docs/drift.md).",
            thresholds=[("green", None), ("orange", 0.1), ("red", 0.25)],
        ),
        panel(
            "Decision records",
            [
                (f"sum(rate(credit_decision_records_written_total[{RATE}]))", "written"),
                (
                    f"sum by (outcome) (rate(credit_decision_records_failed_total[{RATE}]))",
                    "failed {{outcome}}",
                ),
            ],
            unit="ops",
        ),
        panel(
            "Records writable",
            [("min(credit_decision_records_writable)", "writable")],
            kind="stat",
            width=6,
            description="0 while any worker cannot write decision records (decisions stop).",
            thresholds=[("red", None), ("green", 1.0)],
        ),
        panel(
            "Challenger agreement",
            [
                (
                    f'sum(rate(credit_challenger_decisions_total{{agreement="agreed"}}[{RATE}])) '
                    f"/ sum(rate(credit_challenger_decisions_total[{RATE}]))",
                    "agreement",
                )
            ],
            unit="percentunit",
            kind="stat",
            width=6,
            description="Share of decisions where the challenger's status agreed.",
        ),
        panel(
            "Serving",
            [
                (
                    "max by (model_tag, policy_version, code_version) (credit_build_info)",
                    "{{model_tag}} policy {{policy_version}} code {{code_version}}",
                )
            ],
            kind="table",
            width=FULL_WIDTH,
            description="What the workers serve: model tag, policy version, code version.",
        ),
    ]


def layout(items: list[Panel]) -> list[Panel]:
    """Place panels left to right in rows of ``FULL_WIDTH``, and number them in order."""
    x = y = 0
    for number, item in enumerate(items, start=1):
        width = item["gridPos"]["w"]
        if x + width > FULL_WIDTH:
            x, y = 0, y + PANEL_HEIGHT
        item["gridPos"].update(x=x, y=y)
        item["id"] = number
        x += width
    return items


def dashboard() -> dict[str, Any]:
    """The whole dashboard, as Grafana imports it."""
    return {
        "annotations": {"list": []},
        "editable": True,
        "panels": layout(panels()),
        "refresh": "30s",
        "schemaVersion": 39,
        "tags": ["credit-risk"],
        "templating": {
            "list": [
                {
                    "label": "Prometheus",
                    "name": "datasource",
                    "query": "prometheus",
                    "type": "datasource",
                }
            ]
        },
        "time": {"from": "now-6h", "to": "now"},
        "timezone": "utc",
        "title": "Credit-risk service",
        "uid": "credit-risk-service",
        "version": 1,
    }


def dashboard_expressions() -> list[str]:
    """Every PromQL expression of the dashboard, in panel order, with Grafana's
    ``$__rate_interval`` replaced by a plain ``5m`` so that Prometheus can evaluate it."""
    return [
        query["expr"].replace(RATE, "5m")
        for item in dashboard()["panels"]
        for query in item["targets"]
    ]


def render_json() -> str:
    """The dashboard file's exact text."""
    return json.dumps(dashboard(), indent=2, sort_keys=True) + "\n"


def main(argv: list[str]) -> None:
    """Write the dashboard to ``argv[0]``, or to ``credit-risk.json`` beside this script."""
    path = Path(argv[0]) if argv else OUTPUT
    path.write_text(render_json())


if __name__ == "__main__":
    main(sys.argv[1:])
