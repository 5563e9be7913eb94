"""Loading a stored model: one whose trees split on a protected field is refused, unless a
setting names the field; the trees are read, not the metadata's word."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import bentoml
import pandas as pd
import pytest
import xgboost as xgb

from credit_risk.features import FEATURE_NAMES
from credit_risk.model import CARD_MARKDOWN
from credit_risk.model.audit import proofs
from credit_risk.model.metadata import ModelMetadata
from credit_risk.model.store import (
    BOOSTER_FILE,
    ProtectedFieldError,
    load_from_store,
    save_to_store,
)
from credit_risk.policy import PROTECTED_FIELDS
from tests.unit.model.audit.models import MARITAL_SCORED, single_default, small_model


@pytest.fixture(scope="module")
def marital_booster(course_frame: pd.DataFrame) -> xgb.Booster:
    """A small booster trained with marital status not hidden (single applicants default):
    its trees split on marital."""
    booster = small_model(course_frame, single_default(course_frame), MARITAL_SCORED).booster
    booster.feature_names = list(FEATURE_NAMES)
    assert "marital" in proofs.scored_fields(booster)
    return booster


@pytest.fixture
def marital_model(trained_model: str, marital_booster: xgb.Booster) -> Iterator[bentoml.Model]:
    """The booster saved by ``save_to_store`` with the served model's metadata, its proofs
    those of its own trees; deleted at the end (the served model is latest again)."""
    served = ModelMetadata.model_validate(bentoml.models.get(trained_model).info.metadata)
    proven = proofs.prove(marital_booster, PROTECTED_FIELDS).summary()
    model = save_to_store(marital_booster, served.model_copy(update={"proofs": proven}))
    try:
        yield model
    finally:
        bentoml.models.delete(model.tag)
        assert str(bentoml.models.get("credit_risk_model:latest").tag) == trained_model


def test_a_model_scoring_marital_status_is_refused_at_load(marital_model: bentoml.Model) -> None:
    with pytest.raises(ProtectedFieldError) as refused:
        load_from_store(marital_model, nthread=1)
    message = str(refused.value)
    assert "marital" in message and "CREDIT_RISK_ALLOW_SCORED_PROTECTED" in message
    assert str(marital_model.tag) in message
    # Its card, written at saving, says what it scores.
    card = (Path(marital_model.path) / CARD_MARKDOWN).read_text()
    assert "**Scores protected fields: marital.**" in card


def test_a_setting_naming_the_field_lets_it_load_and_says_so(
    marital_model: bentoml.Model,
) -> None:
    served = load_from_store(marital_model, nthread=1, allow_scored_protected=("marital",))
    assert served.scored_protected == ("marital",)
    assert served.metadata.proofs.scored_protected_fields == ["marital"]
    # Allowing another field is no leave for this one.
    with pytest.raises(ProtectedFieldError, match="marital"):
        load_from_store(marital_model, nthread=1, allow_scored_protected=("age",))


def test_the_served_model_loads_with_nothing_protected_scored(trained_model: str) -> None:
    served = load_from_store(bentoml.models.get(trained_model), nthread=1)
    assert served.scored_protected == ()


def test_the_trees_are_read_not_the_metadatas_word(trained_model: str) -> None:
    # A policy that declares age protected: the served model splits on age, so it is
    # refused, whatever its stored proofs say.
    stored = bentoml.models.get(trained_model)
    metadata = ModelMetadata.model_validate(stored.info.metadata)
    assert metadata.proofs.scored_protected_fields == []
    policy = metadata.policy.model_copy(update={"protected_fields": ("marital", "age")})
    booster = xgb.Booster(model_file=str(Path(stored.path) / BOOSTER_FILE))
    model = save_to_store(booster, metadata.model_copy(update={"policy": policy}))
    try:
        with pytest.raises(ProtectedFieldError, match="scores age"):
            load_from_store(model, nthread=1)
        allowed = load_from_store(model, nthread=1, allow_scored_protected=("age",))
        assert allowed.scored_protected == ("age",)
    finally:
        bentoml.models.delete(model.tag)
