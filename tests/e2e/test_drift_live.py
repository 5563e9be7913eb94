"""The live drift window: exact counts, and gauges on /metrics that move with the traffic."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bentoml
import httpx
import numpy as np
import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families

from credit_risk.drift.live import DISABLED, RollingDrift
from credit_risk.drift.psi import SCORE_FIELD, ReferenceBins, population_stability_index
from credit_risk.features import application_columns
from credit_risk.generator import SHIFTS, ApplicationGenerator
from credit_risk.schema import COURSE_EXAMPLE, CreditApplication
from credit_risk.training.data import application_records
from credit_risk.vocabulary import APPLICATION_FIELDS
from tests.conftest import Server, start_server

WINDOW = 500


@pytest.fixture(scope="module")
def reference(trained_model: str) -> dict[str, Any]:
    """The reference distribution stored with the trained model."""
    return dict(bentoml.models.get(trained_model).info.metadata["reference"])


def _direct_psi(bins: ReferenceBins, applications: list[CreditApplication], probabilities):
    values = {name: [getattr(a, name) for a in applications] for name in APPLICATION_FIELDS}
    values[SCORE_FIELD] = probabilities
    return {
        b.name: population_stability_index(
            b.shares, np.bincount(b.indices(values[b.name]), minlength=len(b.shares))
        )
        for b in bins.fields
    }


def test_window_counts_equal_a_fresh_count_of_its_last_decisions(reference) -> None:
    bins = ReferenceBins.from_reference(reference)
    drawn = ApplicationGenerator(reference, seed=3).draw(700)
    applications = [CreditApplication.model_validate(a) for a in drawn]
    probabilities = list(np.random.default_rng(0).random(len(applications)))
    drift = RollingDrift(bins, 250, publish=False)
    # Singles (the Python path), small and large batches (numpy), wrapping the ring.
    start = 0
    for size in (1, 1, 5, 100, 1, 300, 40, 252):
        part = application_columns(applications[start : start + size])
        drift.observe(part, probabilities[start : start + size])
        start += size
        assert drift.filled == min(start, 250)
    expected = _direct_psi(
        bins, applications[start - 250 : start], probabilities[start - 250 : start]
    )
    assert drift.psi() == pytest.approx(expected, rel=1e-9, abs=1e-12)
    # A batch larger than the window keeps its last decisions only.
    drift.observe(application_columns(applications[:600]), probabilities[:600])
    assert drift.psi() == pytest.approx(
        _direct_psi(bins, applications[350:600], probabilities[350:600]), rel=1e-9, abs=1e-12
    )


def test_a_zero_window_disables_the_monitor(reference) -> None:
    assert RollingDrift.from_reference(reference, 0) is DISABLED
    assert isinstance(RollingDrift.from_reference(reference, 10), RollingDrift)


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
