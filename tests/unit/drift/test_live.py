"""The live drift window in process: exact counts over its last decisions (the gauges on
/metrics of a real server: ``tests/e2e/test_drift_gauges.py``)."""

from __future__ import annotations

import bentoml
import numpy as np
import pytest

from credit_risk.drift.live import DISABLED, RollingDrift
from credit_risk.drift.psi import SCORE_FIELD, ReferenceBins, population_stability_index
from credit_risk.features import application_columns
from credit_risk.generator import ApplicationGenerator
from credit_risk.model.metadata import ModelMetadata, Reference
from credit_risk.schema import CreditApplication
from credit_risk.vocabulary import APPLICATION_FIELDS


@pytest.fixture(scope="module")
def reference(trained_model: str) -> Reference:
    """The reference distribution stored with the trained model."""
    return ModelMetadata.model_validate(bentoml.models.get(trained_model).info.metadata).reference


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
