"""The monitoring pack's files checked by Prometheus's own ``promtool`` (Debian's
``prometheus`` package: ``make prometheus``): the rules load, every alert fires on its bad
series and stays silent on its healthy one (``rules*.test.yml``), the scrape configuration
is valid, and the operator's ``PrometheusRule`` is the one ``generate.py`` makes now.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Final

import pytest
import yaml

from tests.support.ci import unavailable
from tests.support.servers import ROOT

MONITORING: Final = ROOT / "deploy" / "monitoring"
RULE_TESTS: Final = ("rules.test.yml", "rules.long.test.yml")


def promtool() -> str:
    """The path of ``promtool``; skips (fails under CI) without it."""
    found = shutil.which("promtool")
    if found is None:
        unavailable("monitoring rules tests", "promtool is missing (make prometheus)")
    return found


def run_promtool(*args: str) -> str:
    """``promtool ARGS`` in deploy/monitoring; its output, asserting it succeeded."""
    done = subprocess.run(
        [promtool(), *args],
        check=False,
        cwd=MONITORING,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def alert_names() -> set[str]:
    """Every alert of rules.yml."""
    groups = yaml.safe_load((MONITORING / "rules.yml").read_text())["groups"]
    return {rule["alert"] for group in groups for rule in group["rules"] if "alert" in rule}


def test_rules_load() -> None:
    assert "SUCCESS: 19 rules found" in run_promtool("check", "rules", "rules.yml")


def test_every_alert_fires_on_a_bad_series_and_not_on_a_healthy_one() -> None:
    output = run_promtool("test", "rules", *RULE_TESTS)
    assert output.count("SUCCESS") == len(RULE_TESTS), output
    # Each alert has a case expecting it (the bad job) and cases expecting nothing.
    tested: dict[str, set[bool]] = {}
    for name in RULE_TESTS:
        for group in yaml.safe_load((MONITORING / name).read_text())["tests"]:
            for case in group["alert_rule_test"]:
                tested.setdefault(case["alertname"], set()).add(bool(case["exp_alerts"]))
    assert set(tested) == alert_names()
    for alert, fires in tested.items():
        assert True in fires, alert


def test_a_wrong_expectation_fails(tmp_path: Path) -> None:
    # promtool must tell a firing alert from a silent one: the same test expecting
    # silence where the records alert fires has to fail.
    text = (MONITORING / "rules.test.yml").read_text()
    silent = "      - eval_time: 1m\n        alertname: CreditRiskDecisionsSuspended\n"
    assert silent in text
    broken = text.replace(silent, silent.replace("1m", "3m"), 1)
    (tmp_path / "rules.yml").write_text((MONITORING / "rules.yml").read_text())
    (tmp_path / "rules.test.yml").write_text(broken)
    done = subprocess.run(
        [promtool(), "test", "rules", "rules.test.yml"],
        check=False,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode != 0 and "CreditRiskDecisionsSuspended" in done.stderr, done.stderr


def test_scrape_configuration_is_valid() -> None:
    assert "is valid prometheus config file syntax" in run_promtool(
        "check", "config", "prometheus.yml"
    )


def test_kubernetes_scrape_keeps_the_pods_of_the_deployment() -> None:
    # Debian's promtool has no Kubernetes discovery: the job is held to the manifests.
    job = yaml.safe_load((MONITORING / "kubernetes-scrape.yml").read_text())["scrape_configs"][0]
    others = yaml.safe_load((MONITORING / "prometheus.yml").read_text())["scrape_configs"]
    assert job["job_name"].startswith("credit-risk")
    assert all(other["job_name"].startswith("credit-risk") for other in others)
    deployment = yaml.safe_load((ROOT / "deploy/kubernetes/base/deployment.yaml").read_text())
    pod = deployment["spec"]["template"]["metadata"]
    keep = {
        tuple(step["source_labels"]): step["regex"]
        for step in job["relabel_configs"]
        if step.get("action") == "keep"
    }
    name = pod["labels"]["app.kubernetes.io/name"]
    assert keep[("__meta_kubernetes_pod_label_app_kubernetes_io_name",)] == name
    assert (
        keep[("__meta_kubernetes_pod_annotation_prometheus_io_scrape",)]
        == (pod["annotations"]["prometheus.io/scrape"])
    )
    monitor = yaml.safe_load((MONITORING / "servicemonitor.yaml").read_text())
    service = yaml.safe_load((ROOT / "deploy/kubernetes/base/service.yaml").read_text())
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["endpoints"][0]["port"] in {p["name"] for p in service["spec"]["ports"]}


def test_prometheus_rule_is_generated_from_the_rules(tmp_path: Path) -> None:
    output = tmp_path / "prometheus-rule.yaml"
    subprocess.run(
        [sys.executable, str(MONITORING / "generate.py"), str(output)], check=True, timeout=60
    )
    committed = MONITORING / "prometheus-rule.yaml"
    assert output.read_text() == committed.read_text(), "run python deploy/monitoring/generate.py"
    document = yaml.safe_load(committed.read_text())
    assert document["kind"] == "PrometheusRule"
    assert document["spec"] == yaml.safe_load((MONITORING / "rules.yml").read_text())


@pytest.mark.parametrize("name", ["alertmanager.yml"])
def test_alertmanager_routes_every_severity(name: str) -> None:
    config = yaml.safe_load((MONITORING / name).read_text())
    receivers = {receiver["name"] for receiver in config["receivers"]}
    routed = {tuple(route["matchers"]): route["receiver"] for route in config["route"]["routes"]}
    groups = yaml.safe_load((MONITORING / "rules.yml").read_text())["groups"]
    severities = {
        rule["labels"]["severity"] for group in groups for rule in group["rules"] if "alert" in rule
    }
    for severity in severities:
        assert routed[(f'severity="{severity}"',)] in receivers, severity
