"""The monitoring pack against the real thing: a real Prometheus (Debian's ``prometheus``,
``make prometheus``) scraping a real ``bentoml serve`` every second under traffic, healthy,
then with its decision records failing, then with a shifted population.

The rules are deploy/monitoring/rules.yml itself, with every ``for:`` shortened to
``FOR`` (nothing else changed): at their real durations (2 to 60 minutes) no alert could
fire within the test. Every recording rule, alert expression and dashboard query
(``deploy/monitoring/dashboards/generate.py``'s ``dashboard_expressions``) is evaluated
through Prometheus's HTTP API; the records and drift alerts must fire when their fault is
injected, and the others stay silent where nothing is wrong. ``promtool check metrics``
lints the real ``/metrics``.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import httpx
import numpy as np
import pandas as pd
import pytest

from credit_risk.generator import SHIFTS
from credit_risk.schema import application_records
from tests.support.ci import unavailable
from tests.support.servers import ROOT, Server, free_port, start_server, wait_ready

MONITORING: Final = ROOT / "deploy" / "monitoring"
DASHBOARD_GENERATOR: Final = MONITORING / "dashboards" / "generate.py"
FOR: Final = "2s"
WINDOW: Final = 300
"""The drift window (per API worker): small, so that a shifted batch fills it quickly."""
JOB: Final = "credit-risk-e2e"
SHIFT: Final = SHIFTS["older-larger"]
NO_TRAFFIC: Final = "challenger"
"""Series nothing sends yet: the challenger's (its alert is tested by promtool only)."""


@dataclass
class Prometheus:
    """A Prometheus server and its HTTP API."""

    server: Server
    http: httpx.Client

    def query(self, expr: str) -> list[dict[str, Any]]:
        """The instant vector (or scalar) of ``expr`` now; fails on any query error."""
        answer = self.http.get("/api/v1/query", params={"query": expr})
        body = answer.json()
        assert answer.status_code == 200 and body["status"] == "success", (expr, body)
        result = body["data"]["result"]
        return result if body["data"]["resultType"] == "vector" else [result]

    def rules(self) -> list[dict[str, Any]]:
        """Every rule loaded, recording and alerting, with its health."""
        groups = self.http.get("/api/v1/rules").json()["data"]["groups"]
        return [rule for group in groups for rule in group["rules"]]

    def situation(self) -> dict[str, object]:
        """What a failed wait shows: the alerts, the scrape's health and the series the
        faults move."""
        return {
            "alerts": self.alerts(),
            "up": self.query("up"),
            "errors_5m": self.query("credit_risk:request_errors:ratio_rate5m"),
            "errors_1h": self.query("credit_risk:request_errors:ratio_rate1h"),
            "writable": self.query("credit_decision_records_writable"),
            "psi_max": self.query("credit_risk:psi:max"),
        }

    def alerts(self) -> dict[str, set[str]]:
        """Alert name to the states (pending, firing) of its active alerts."""
        states: dict[str, set[str]] = {}
        for alert in self.http.get("/api/v1/alerts").json()["data"]["alerts"]:
            states.setdefault(alert["labels"]["alertname"], set()).add(alert["state"])
        return states


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        unavailable("Prometheus e2e test", f"{name} is missing (make prometheus)")
    return found


def _wait(
    what: str,
    check: Callable[[], bool],
    timeout: float = 120,
    state: Callable[[], object] = lambda: None,
) -> None:
    """Poll ``check`` until it holds; past ``timeout``, fail showing ``state()``."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not within {timeout} s: {what}; state: {state()}")
        time.sleep(0.5)


def _short_rules(path: Path) -> None:
    text = (MONITORING / "rules.yml").read_text()
    shortened, count = re.subn(r"(?m)^(\s+for: )\S+$", rf"\g<1>{FOR}", text)
    assert count >= 6, count  # every alert but the records' (which has none) has a `for`
    path.write_text(shortened)


@pytest.fixture
def service(tmp_root: Path, tmp_path: Path, trained_model: str) -> Iterator[Server]:
    """The service, its records in a folder of this test's, and a small drift window."""
    running = start_server(
        tmp_root,
        "embedded",
        extra_env={
            "CREDIT_RISK_DRIFT_WINDOW": str(WINDOW),
            "CREDIT_RISK_MONITORING_DIR": str(tmp_path / "records"),
        },
    )
    running.monitoring_dir = tmp_path / "records"
    yield running
    running.stop()


def _start_prometheus(tmp_path: Path, target: str) -> Prometheus:
    binary = _tool("prometheus")
    rules = tmp_path / "rules.yml"
    _short_rules(rules)
    config = tmp_path / "prometheus.yml"
    config.write_text(
        # The scrape's timeout is its interval: 1 s failed scrapes of a busy 2-core CI
        # machine, and a failed scrape drops every series (and firing alert) at once.
        f"global:\n  scrape_interval: 2s\n  scrape_timeout: 2s\n  evaluation_interval: 1s\n"
        f"rule_files: [{rules}]\n"
        f"scrape_configs:\n  - job_name: {JOB}\n    static_configs:\n"
        f"      - targets: ['{target}']\n"
    )
    port = free_port()
    log_path = tmp_path / "prometheus.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--web.enable-lifecycle",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    server = Server(url, process, "prometheus", tmp_path, log_path)
    try:
        wait_ready(url, process, log_path, timeout=60, path="/-/ready")
    except BaseException:
        server.stop()
        raise
    return Prometheus(server, httpx.Client(base_url=url, timeout=30))


def _send(client: httpx.Client, rows: list[dict[str, Any]], expect: int) -> None:
    """Each row alone to /classify, then all in batches of 100: every answer ``expect``."""
    for row in rows[:50]:
        assert client.post("/classify", json=row).status_code == expect
    for start in range(0, len(rows), 100):
        batch = {"applications": rows[start : start + 100]}
        assert client.post("/classify_batch", json=batch).status_code == expect


def test_prometheus_evaluates_every_rule_and_fires_on_injected_faults(
    service: Server, tmp_path: Path, course_frame: pd.DataFrame
) -> None:
    promtool = _tool("promtool")
    rows = application_records(course_frame)
    picked = np.random.default_rng(11).permutation(len(rows))
    reference = [rows[i] for i in picked[: 2 * WINDOW]]
    shifted = SHIFT.apply(
        [rows[i] for i in picked[2 * WINDOW : 4 * WINDOW]], np.random.default_rng(3)
    )
    client = httpx.Client(base_url=service.url, timeout=30)
    # Warm up before the first scrape: the rates then hold only the measured traffic.
    _send(client, reference[:100], 200)

    metrics = client.get("/metrics").text
    linted = subprocess.run(
        [promtool, "check", "metrics"], input=metrics, capture_output=True, text=True, check=False
    )
    assert linted.returncode == 0, linted.stdout + linted.stderr

    prometheus = _start_prometheus(tmp_path, service.url.removeprefix("http://"))
    try:
        # Healthy: reference traffic; every series there, no alert at all.
        _send(client, reference, 200)
        _wait(
            "the target scraped and the drift window full",
            lambda: (
                len(prometheus.query("credit_risk:psi:max")) > 1
                and bool(prometheus.query("credit_risk:request_errors:ratio_rate5m"))
            ),
            state=prometheus.situation,
        )
        _send(client, reference, 200)
        time.sleep(3)  # a few evaluations past FOR
        assert all(rule["health"] == "ok" for rule in prometheus.rules()), prometheus.rules()
        _evaluate_everything(prometheus)
        assert prometheus.alerts() == {}, prometheus.alerts()
        ratio = prometheus.query("credit_risk:request_errors:ratio_rate5m")
        assert float(ratio[0]["value"][1]) == 0.0, ratio

        # Records failing: the records directory replaced by a file (test_records.py's fault).
        records = service.monitoring_dir
        moved = tmp_path / "records-moved"
        records.rename(moved)
        records.write_text("a file where the records directory was")
        _send(client, reference[:100], 503)

        def refused_while_failing() -> bool:
            # Clients keep coming while the fault lasts. They must here: a 5xx series is
            # new at its first scrape, and rate() cannot see the increase that came
            # before it, so a single burst of 503s would read as no errors at all.
            _send(client, reference[:2], 503)
            alerts = prometheus.alerts()
            return "firing" in alerts.get("CreditRiskDecisionsSuspended", set()) and bool(
                alerts.get("CreditRiskErrorBudgetBurn")
            )

        _wait(
            "CreditRiskDecisionsSuspended firing and the error-budget page on",
            refused_while_failing,
            state=prometheus.situation,
        )
        faulty = prometheus.alerts()
        assert set(faulty) == {"CreditRiskDecisionsSuspended", "CreditRiskErrorBudgetBurn"}, faulty
        records.unlink()
        moved.rename(records)
        _wait("records writable again", lambda: client.get("/readyz").status_code == 200)

        # Shifted population: a full window of older applicants asking for more.
        _send(client, shifted, 200)
        _wait(
            "CreditRiskDriftActBand pending or firing",
            lambda: bool(prometheus.alerts().get("CreditRiskDriftActBand")),
            state=prometheus.situation,
        )
        drifted = {
            alert["labels"]["field"]
            for alert in prometheus.http.get("/api/v1/alerts").json()["data"]["alerts"]
            if alert["labels"]["alertname"] == "CreditRiskDriftActBand"
        }
        assert drifted <= {*SHIFT.fields, "default_probability"} and drifted, drifted
        _evaluate_everything(prometheus)
        late = prometheus.alerts()
        for quiet in ("CreditRiskLatencyP99High", "CreditRiskReplicaNotReady"):
            assert quiet not in late, late
        assert "CreditRiskChallengerDisagreement" not in late, late
    finally:
        client.close()
        prometheus.http.close()
        prometheus.server.stop()


def _evaluate_everything(prometheus: Prometheus) -> None:
    """Every rule's expression and every recorded series, and the dashboard's queries:
    no error, and data wherever traffic was sent."""
    for rule in prometheus.rules():
        prometheus.query(rule["query"])  # alert expressions: empty while nothing is wrong
        if rule["type"] == "recording" and NO_TRAFFIC not in rule["name"]:
            assert prometheus.query(rule["name"]), rule["name"]
    for expr in _dashboard_expressions():
        result = prometheus.query(expr)
        if NO_TRAFFIC not in expr:
            assert result, expr


def _dashboard_expressions() -> list[str]:
    """The dashboard's queries, when its generator is there (another part of the pack)."""
    if not DASHBOARD_GENERATOR.is_file():
        return []
    spec = importlib.util.spec_from_file_location("dashboard_generate", DASHBOARD_GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    expressions: list[str] = module.dashboard_expressions()
    return expressions
