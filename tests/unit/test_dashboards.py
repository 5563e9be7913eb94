"""The committed Grafana dashboard is what ``generate.py`` writes, and it queries only
metrics the service defines (its PromQL is evaluated through a real Prometheus in the
rules' e2e test)."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest
from prometheus_client import REGISTRY

import credit_risk.drift.live
import credit_risk.serving.guards
from credit_risk.records.health import records_metrics
from credit_risk.serving import metrics

DASHBOARDS = Path(__file__).resolve().parents[2] / "deploy" / "monitoring" / "dashboards"

KEYWORDS = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right", "bool"})
"""PromQL words that are neither functions (followed by a parenthesis) nor metrics."""
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, DASHBOARDS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


generate = _load("generate")


def metric_names(expression: str) -> set[str]:
    """The metric names a PromQL expression reads: identifiers outside strings, label
    matchers, ``by (...)`` lists and ranges, not followed by ``(`` (functions, aggregations)."""
    bare = re.sub(r'"[^"]*"', "", expression)
    bare = re.sub(r"\{[^}]*\}|\[[^\]]*\]|\b(?:by|without|on|ignoring)\s*\([^)]*\)", " ", bare)
    names = re.findall(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()", bare)
    return {name for name in names if name not in KEYWORDS}


def defined_series() -> set[str]:
    """Every series name the service's code defines (its prometheus_client metrics in the
    default registry) and BentoML's own (``metrics.BENTOML_METRICS``)."""
    records_metrics()  # made on first use
    assert credit_risk.drift.live.feature_psi and credit_risk.serving.guards
    names = set()
    for family in REGISTRY.collect():
        names |= {family.name + suffix for suffix in SUFFIXES.get(family.type, ("",))}
    for name in metrics.BENTOML_METRICS:
        names |= {name, *(name + suffix for suffix in SUFFIXES["histogram"])}
    return names


def test_committed_dashboard_is_what_generate_writes(tmp_path: Path) -> None:
    regenerated = tmp_path / "credit-risk.json"
    generate.main([str(regenerated)])
    committed = (DASHBOARDS / "credit-risk.json").read_text()
    assert regenerated.read_text() == committed, (
        "deploy/monitoring/dashboards/credit-risk.json is stale: run "
        "`python deploy/monitoring/dashboards/generate.py` and commit it"
    )


def test_every_query_names_only_metrics_the_service_defines() -> None:
    defined = defined_series()
    expressions = generate.dashboard_expressions()
    assert len(expressions) >= 12
    for expression in expressions:
        names = metric_names(expression)
        assert names, expression
        assert names <= defined, (expression, names - defined)


@pytest.mark.parametrize(
    ("expression", "names"),
    [
        (
            'histogram_quantile(0.5, sum by (le) (rate(a_bucket{endpoint="/x"}[5m])))',
            {"a_bucket"},
        ),
        ('sum(rate(b_total{status="A"}[5m])) / sum(rate(c_total[5m]))', {"b_total", "c_total"}),
        ("max by (field, model_tag) (d)", {"d"}),
    ],
)
def test_metric_names_finds_every_metric_and_nothing_else(expression: str, names: set[str]) -> None:
    assert metric_names(expression) == names


def test_panels_have_stable_ids_and_do_not_overlap() -> None:
    panels = generate.dashboard()["panels"]
    assert [p["id"] for p in panels] == list(range(1, len(panels) + 1))
    cells = [
        (x, y)
        for p in panels
        for x in range(p["gridPos"]["x"], p["gridPos"]["x"] + p["gridPos"]["w"])
        for y in range(p["gridPos"]["y"], p["gridPos"]["y"] + p["gridPos"]["h"])
    ]
    assert len(cells) == len(set(cells))
    assert all(p["gridPos"]["x"] + p["gridPos"]["w"] <= generate.FULL_WIDTH for p in panels)
