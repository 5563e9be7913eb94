"""PSI on the stored reference bins, and the generator's reference and shifted traffic."""

from __future__ import annotations

import math
from typing import Any

import bentoml
import numpy as np
import pandas as pd
import pytest

from credit_risk.drift.psi import (
    EPSILON,
    SCORE_FIELD,
    Band,
    CategoricalBins,
    NumericBins,
    ReferenceBins,
    band_of,
    population_stability_index,
)
from credit_risk.features import encode_columns
from credit_risk.generator import SHIFTS, ApplicationGenerator
from credit_risk.model.metadata import BinnedField, ModelMetadata, Reference
from credit_risk.model.store import load_from_store
from credit_risk.schema import CreditApplication, application_records
from credit_risk.vocabulary import APPLICATION_FIELDS


@pytest.mark.parametrize(
    ("psi", "band"),
    [
        (0.0, Band.STABLE),
        (0.0999, Band.STABLE),
        (0.10, Band.WATCH),
        (0.25, Band.WATCH),
        (0.2501, Band.ACT),
        (7.0, Band.ACT),
    ],
)
def test_conventional_bands(psi: float, band: Band) -> None:
    assert band_of(psi) is band
    assert band.severity == list(Band).index(band)


def test_psi_is_zero_for_the_reference_itself_and_finite_for_an_empty_bin() -> None:
    assert population_stability_index([0.2, 0.3, 0.5], [20, 30, 50]) == pytest.approx(0.0)
    # An empty current bin counts as EPSILON, not zero: large but finite.
    expected = (0.5 - EPSILON) * math.log(0.5 / EPSILON) + (0.5 - 1) * math.log(0.5 / 1)
    assert population_stability_index([0.5, 0.5], [0, 10]) == pytest.approx(expected)


def test_numeric_bins_count_as_numpy_histogram_with_open_ends_and_a_missing_bin() -> None:
    bins = NumericBins.from_reference(
        "amount",
        BinnedField(edges=[100.0, 500.0, 800.0, 5000.0], shares=[0.3, 0.3, 0.3], missing_share=0.1),
    )
    values = [100.0, 499.9, 500.0, 800.0, 5000.0, 1.0, 1e9, None, float("nan")]
    expected = [0, 0, 1, 2, 2, 0, 2, 3, 3]
    assert [bins.index(v) for v in values] == expected
    assert bins.indices(values).tolist() == expected
    inside = np.array([100.0, 499.9, 500.0, 800.0, 5000.0])
    histogram, _ = np.histogram(inside, bins=bins.edges)
    assert np.bincount(bins.indices(inside), minlength=3).tolist() == histogram.tolist()
    assert bins.labels == ("< 500", "500 to 800", "≥ 800", "missing")


def test_categorical_bins_keep_a_bin_for_unknown_labels() -> None:
    bins = CategoricalBins.from_reference("records", {"no": 0.8, "yes": 0.2, "unk": 0.0})
    assert [bins.index(v) for v in ("no", "yes", "unk", "maybe")] == [0, 1, 2, 3]
    assert bins.indices(["yes", "maybe"]).tolist() == [1, 3]
    assert bins.shares.tolist() == [0.8, 0.2, 0.0, 0.0]


@pytest.fixture(scope="module")
def model(trained_model: str) -> bentoml.Model:
    """The trained model in the store."""
    return bentoml.models.get(trained_model)


def _reference(model: bentoml.Model) -> Reference:
    return ModelMetadata.model_validate(model.info.metadata).reference


def _psi_of(model: bentoml.Model, applications: list[dict[str, Any]]) -> dict[str, float]:
    """PSI per field and of the served default probability of the applications."""
    bins = ReferenceBins.from_reference(_reference(model))
    columns = {name: [a[name] for a in applications] for name in APPLICATION_FIELDS}
    numeric = {
        name: [np.nan if v is None else v for v in values] for name, values in columns.items()
    }
    columns[SCORE_FIELD] = load_from_store(model, nthread=1).explain(encode_columns(numeric))[:, 0]
    return {
        b.name: population_stability_index(
            b.shares, np.bincount(b.indices(columns[b.name]), minlength=len(b.shares))
        )
        for b in bins.fields
    }


def test_the_training_rows_themselves_are_stable(model, course_frame: pd.DataFrame) -> None:
    psi = _psi_of(model, application_records(course_frame))
    inputs = {name: value for name, value in psi.items() if name != SCORE_FIELD}
    assert max(inputs.values()) < 1e-9, inputs  # the very rows the bins were cut from
    # In-sample probabilities of the final model against out-of-fold ones.
    assert psi[SCORE_FIELD] < 0.10


def test_generated_reference_traffic_is_stable_everywhere(model) -> None:
    drawn = ApplicationGenerator(_reference(model), seed=11).draw(20_000)
    psi = _psi_of(model, drawn)
    assert {name: value for name, value in psi.items() if value >= 0.10} == {}
    # Fields are drawn bin by bin, so each field matches to sampling noise; the score
    # less so, because independent draws lose the fields' correlations.
    assert max(v for k, v in psi.items() if k != SCORE_FIELD) < 0.01, psi


@pytest.mark.parametrize("name", ["older-larger", "undeclared-income"])
def test_a_shift_moves_its_fields_past_act_and_leaves_the_others_stable(model, name: str) -> None:
    shift = SHIFTS[name]
    drawn = ApplicationGenerator(_reference(model), seed=12, shift=shift).draw(20_000)
    psi = _psi_of(model, drawn)
    for field in APPLICATION_FIELDS:
        if field in shift.fields:
            assert psi[field] > 0.25, (field, psi)
        else:
            assert psi[field] < 0.10, (field, psi)
    # The model reacts too: out of the stable band (older-larger moves it past 0.5).
    assert psi[SCORE_FIELD] > 0.10, psi
    for application in drawn[:2000]:
        CreditApplication.model_validate(application)
