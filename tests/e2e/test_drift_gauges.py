"""The live drift window's gauges on /metrics, moving with the traffic (its exact counts,
in process: ``tests/unit/drift/test_live.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families

from credit_risk.generator import SHIFTS
from credit_risk.schema import COURSE_EXAMPLE, application_records
from credit_risk.vocabulary import APPLICATION_FIELDS
from tests.support.servers import Server, start_server

WINDOW = 500


def _gauges(client: httpx.Client) -> dict[str, float]:
    """PSI gauges and window size from /metrics, keyed by field (``score`` for the score)."""
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(client.get("/metrics").text):
        for sample in family.samples:
            if sample.name == "credit_feature_psi":
                values[sample.labels["field"]] = sample.value
            elif sample.name in ("credit_score_psi", "credit_drift_window_decisions"):
                values[sample.name] = sample.value
    return values


@pytest.fixture(scope="module")
def drift_server(tmp_root: Path, trained_model: str) -> Iterator[Server]:
    """A server with a small drift window."""
    running = start_server(
        tmp_root, "embedded", extra_env={"CREDIT_RISK_DRIFT_WINDOW": str(WINDOW)}
    )
    yield running
    running.stop()


def _classify(client: httpx.Client, applications: list[dict[str, Any]]) -> None:
    response = client.post("/classify_batch", json={"applications": applications})
    assert response.status_code == 200, response.text


def test_gauges_stay_stable_on_reference_traffic_and_move_on_shifted_traffic(
    drift_server: Server, course_frame: pd.DataFrame
) -> None:
    rows = application_records(course_frame)
    rng = np.random.default_rng(7)
    picked = rng.permutation(len(rows))
    reference_rows = [rows[i] for i in picked[:WINDOW]]
    shift = SHIFTS["older-larger"]
    shifted_rows = shift.apply([rows[i] for i in picked[WINDOW : 2 * WINDOW]], rng)
    with httpx.Client(base_url=drift_server.url, timeout=30) as client:
        before = _gauges(client)
        assert not {name for name in before if name in APPLICATION_FIELDS}, before

        _classify(client, reference_rows)
        stable = _gauges(client)
        assert stable["credit_drift_window_decisions"] == WINDOW
        unstable = {name: stable[name] for name in APPLICATION_FIELDS if stable[name] >= 0.10}
        assert not unstable, stable
        assert stable["credit_score_psi"] < 0.10, stable

        _classify(client, shifted_rows)
        moved = _gauges(client)
    for name in APPLICATION_FIELDS:
        if name in shift.fields:
            assert moved[name] > 0.25, (name, moved)
        else:
            assert moved[name] < 0.10, (name, moved)
    assert moved["credit_score_psi"] > 0.25, moved


def test_no_gauges_when_the_window_is_zero(tmp_root: Path, trained_model: str) -> None:
    server = start_server(tmp_root, "embedded", extra_env={"CREDIT_RISK_DRIFT_WINDOW": "0"})
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            # A full default window (1,000) in one request, hence on one worker.
            _classify(client, [dict(COURSE_EXAMPLE)] * 1000)
            gauges = _gauges(client)
    finally:
        server.stop()
    assert not {name for name in gauges if name in APPLICATION_FIELDS}, gauges
    assert gauges.get("credit_score_psi", 0.0) == 0.0
    assert gauges.get("credit_drift_window_decisions", 0.0) == 0.0
