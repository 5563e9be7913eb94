"""Models the tests store beside the served one: a model the compiled explainer refuses,
other versions of the served model (a challenger of another recipe, a copy), and any
booster with the served model's metadata."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

import bentoml
import pandas as pd
import xgboost as xgb

from credit_risk.features import FEATURE_NAMES
from credit_risk.model import MODEL_NAME
from credit_risk.model.store import BOOSTER_FILE
from credit_risk.training.recipes import DEFAULT_RECIPE, Recipe, feature_matrix, labels_of

REFUSED_MODEL: Final = "credit_risk_refused"
"""Another model name: the refused model never becomes credit_risk_model:latest."""


def deep_booster(course_frame: pd.DataFrame) -> xgb.Booster:
    """A model the explainer refuses: the served recipe, depth 6, fewer rounds."""
    recipe = DEFAULT_RECIPE.with_params(max_depth=6, rounds=60)
    matrix = xgb.DMatrix(
        feature_matrix(course_frame, recipe),
        label=labels_of(course_frame),
        feature_names=list(FEATURE_NAMES),
    )
    return xgb.train(recipe.params, matrix, num_boost_round=recipe.rounds)


@contextmanager
def refused_model(
    trained_model: str, course_frame: pd.DataFrame
) -> Iterator[tuple[str, xgb.Booster]]:
    """A depth-6 booster stored with the served model's metadata, under another name;
    yields its tag and the booster (without feature names), and deletes it at the end."""
    metadata = dict(bentoml.models.get(trained_model).info.metadata)
    booster = deep_booster(course_frame)
    with bentoml.models.create(REFUSED_MODEL, metadata=metadata) as model:
        booster.save_model(Path(model.path) / BOOSTER_FILE)
    booster.feature_names = None
    try:
        yield str(model.tag), booster
    finally:
        bentoml.models.delete(model.tag)


def store_version(trained_model: str, course_frame: pd.DataFrame, recipe: Recipe) -> str:
    """A new version of ``credit_risk_model`` (it becomes ``latest``): ``recipe`` trained
    on every row, stored with the served model's metadata; its tag."""
    metadata = dict(bentoml.models.get(trained_model).info.metadata)
    matrix = xgb.DMatrix(
        feature_matrix(course_frame, recipe),
        label=labels_of(course_frame),
        feature_names=list(FEATURE_NAMES),
    )
    booster = xgb.train(recipe.params, matrix, num_boost_round=recipe.rounds)
    with bentoml.models.create(MODEL_NAME, metadata=metadata) as model:
        booster.save_model(Path(model.path) / BOOSTER_FILE)
        Path(model.path).chmod(0o755)
    return str(model.tag)


@contextmanager
def stored_booster(
    booster: xgb.Booster, trained_model: str, name: str = REFUSED_MODEL
) -> Iterator[str]:
    """``booster`` stored under ``name`` with the served model's metadata, as
    ``store.load_from_store`` reads a model (feature names included); yields its tag and
    deletes it at the end."""
    metadata = dict(bentoml.models.get(trained_model).info.metadata)
    names = booster.feature_names
    booster.feature_names = list(FEATURE_NAMES)
    try:
        with bentoml.models.create(name, metadata=metadata) as model:
            booster.save_model(Path(model.path) / BOOSTER_FILE)
    finally:
        booster.feature_names = names
    try:
        yield str(model.tag)
    finally:
        bentoml.models.delete(model.tag)
