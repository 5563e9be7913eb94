"""The training recipe: the course baseline, the default model, evaluation and tuning."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd
import xgboost as xgb
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score
from sklearn.model_selection import RepeatedStratifiedKFold, StratifiedKFold, train_test_split

from credit_risk.features import (
    FEATURE_NAMES,
    MONOTONE_CONSTRAINTS,
    ONE_HOT_FEATURES,
    encode_columns,
)
from credit_risk.vocabulary import CATEGORIES, NUMERIC_FIELDS

logger = logging.getLogger(__name__)

XGBOOST_VERSION: Final = xgb.__version__

NTHREAD: Final = 2
"""XGBoost threads during training; the machines we target have two cores."""


@dataclass(frozen=True)
class Recipe:
    """XGBoost parameters, boosting rounds and the feature columns used."""

    params: dict[str, Any]
    rounds: int
    features: tuple[str, ...] = FEATURE_NAMES

    def with_params(self, **changes: Any) -> Recipe:
        """A copy with some parameters changed (``rounds`` included)."""
        rounds = changes.pop("rounds", self.rounds)
        return Recipe({**self.params, **changes}, rounds, self.features)


_BASE_PARAMS: Final[dict[str, Any]] = {
    "objective": "binary:logistic",
    "eval_metric": "auc",
    "nthread": NTHREAD,
    "verbosity": 0,
}

COURSE_RECIPE: Final = Recipe(
    params={**_BASE_PARAMS, "eta": 0.1, "max_depth": 3, "min_child_weight": 1},
    rounds=175,
    features=(*NUMERIC_FIELDS, *ONE_HOT_FEATURES),
)
"""The course's final XGBoost model, on the raw fields only: the reference to beat."""

DEFAULT_RECIPE: Final = Recipe(
    params={
        **_BASE_PARAMS,
        "eta": 0.04,
        "max_depth": 3,
        "min_child_weight": 3,
        "subsample": 0.7,
        "colsample_bytree": 0.5,
        "seed": 0,
        "monotone_constraints": "("
        + ",".join(str(MONOTONE_CONSTRAINTS.get(name, 0)) for name in FEATURE_NAMES)
        + ")",
    },
    rounds=375,
)
"""Slower learning, row and column subsampling, ratio features and monotone constraints."""

CV_SPLITS: Final = 5
CV_REPEATS: Final = 5
CV_SEED: Final = 1
COURSE_TEST_SIZE: Final = 0.2
COURSE_SPLIT_SEED: Final = 11


def labels_of(frame: pd.DataFrame) -> npt.NDArray[np.int8]:
    """1 where the application defaulted, 0 where it was repaid."""
    return (frame["status"] == "default").to_numpy(dtype=np.int8)


def feature_matrix(frame: pd.DataFrame, recipe: Recipe) -> npt.NDArray[np.float32]:
    """The recipe's feature columns of the shared encoding."""
    matrix = encode_columns(frame)
    if recipe.features == FEATURE_NAMES:
        return matrix
    return matrix[:, [FEATURE_NAMES.index(name) for name in recipe.features]]


def fit(frame: pd.DataFrame, recipe: Recipe) -> xgb.Booster:
    """Train a booster on the whole frame."""
    matrix = xgb.DMatrix(
        feature_matrix(frame, recipe), label=labels_of(frame), feature_names=list(recipe.features)
    )
    return xgb.train(recipe.params, matrix, num_boost_round=recipe.rounds)


def predict(booster: xgb.Booster, frame: pd.DataFrame, recipe: Recipe) -> npt.NDArray[np.float32]:
    """Default probabilities for every row of the frame."""
    return booster.inplace_predict(feature_matrix(frame, recipe))


def course_split(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The course's full-train / test split (test_size=0.2, random_state=11)."""
    full_train, test = train_test_split(
        frame, test_size=COURSE_TEST_SIZE, random_state=COURSE_SPLIT_SEED
    )
    return full_train.reset_index(drop=True), test.reset_index(drop=True)


@dataclass
class CrossValidation:
    """AUC per fold of repeated stratified k-fold, with the out-of-fold predictions of repeat 1."""

    aucs: list[float] = field(default_factory=list)
    out_of_fold: npt.NDArray[np.float64] | None = None

    @property
    def mean(self) -> float:
        """Mean AUC over all folds."""
        return float(np.mean(self.aucs))

    @property
    def std(self) -> float:
        """Standard deviation of the AUC over all folds."""
        return float(np.std(self.aucs))


def _folds(labels: npt.NDArray[np.int8], splits: int, repeats: int, seed: int) -> Iterator[Any]:
    splitter = RepeatedStratifiedKFold(n_splits=splits, n_repeats=repeats, random_state=seed)
    return splitter.split(np.zeros(len(labels)), labels)


def cross_validate(
    frame: pd.DataFrame,
    recipe: Recipe,
    *,
    splits: int = CV_SPLITS,
    repeats: int = CV_REPEATS,
    seed: int = CV_SEED,
    on_fold: Callable[[], None] = lambda: None,
) -> CrossValidation:
    """Repeated stratified k-fold AUC of the recipe (5x5, random_state=1 by default)."""
    matrix = feature_matrix(frame, recipe)
    labels = labels_of(frame)
    result = CrossValidation(out_of_fold=np.full(len(labels), np.nan))
    for fold, (train_rows, test_rows) in enumerate(_folds(labels, splits, repeats, seed)):
        train = xgb.DMatrix(matrix[train_rows], label=labels[train_rows])
        booster = xgb.train(recipe.params, train, num_boost_round=recipe.rounds)
        predictions = booster.inplace_predict(matrix[test_rows])
        result.aucs.append(float(roc_auc_score(labels[test_rows], predictions)))
        if fold < splits:
            result.out_of_fold[test_rows] = predictions
        on_fold()
    return result


def calibration_table(
    labels: npt.NDArray[np.int8], probabilities: npt.NDArray[Any], bins: int = 10
) -> list[dict[str, float]]:
    """Observed default rate against mean predicted probability, per probability decile."""
    order = np.argsort(probabilities, kind="stable")
    table = []
    for rows in np.array_split(order, bins):
        table.append(
            {
                "n": len(rows),
                "mean_predicted": float(np.mean(probabilities[rows])),
                "observed_rate": float(np.mean(labels[rows])),
                "min_predicted": float(np.min(probabilities[rows])),
                "max_predicted": float(np.max(probabilities[rows])),
            }
        )
    return table


@dataclass(frozen=True)
class HoldoutEvaluation:
    """Metrics of a recipe trained on the course's full-train split and scored on its test split."""

    auc: float
    brier: float
    log_loss: float
    calibration: list[dict[str, float]]
    labels: npt.NDArray[np.int8]
    probabilities: npt.NDArray[np.float32]


def evaluate_on_course_split(frame: pd.DataFrame, recipe: Recipe) -> HoldoutEvaluation:
    """Train on the course's full-train split and evaluate on its test split."""
    full_train, test = course_split(frame)
    probabilities = predict(fit(full_train, recipe), test, recipe)
    labels = labels_of(test)
    return HoldoutEvaluation(
        auc=float(roc_auc_score(labels, probabilities)),
        brier=float(brier_score_loss(labels, probabilities)),
        log_loss=float(log_loss(labels, probabilities)),
        calibration=calibration_table(labels, probabilities),
        labels=labels,
        probabilities=probabilities,
    )


TUNING_SPACE: Final[dict[str, tuple[Any, ...]]] = {
    "eta": (0.01, 0.02, 0.03, 0.05),
    "max_depth": (2, 3, 4),
    "min_child_weight": (1, 3, 5, 10),
    "subsample": (0.6, 0.7, 0.8, 1.0),
    "colsample_bytree": (0.4, 0.5, 0.7, 1.0),
    "rounds": (300, 500, 750, 1000),
}


def tune(
    frame: pd.DataFrame,
    base: Recipe,
    *,
    trials: int,
    seed: int = 0,
    on_trial: Callable[[Recipe, float], None] = lambda recipe, auc: None,
) -> Recipe:
    """Random search scored by 5-fold CV on the course's full-train split only.

    The course's test split is never seen, so the holdout AUC reported after
    tuning stays honest.
    """
    full_train, _ = course_split(frame)
    chooser = random.Random(seed)
    best, best_auc = base, _inner_auc(full_train, base)
    on_trial(base, best_auc)
    for _ in range(trials):
        candidate = base.with_params(
            **{name: chooser.choice(values) for name, values in TUNING_SPACE.items()}
        )
        auc = _inner_auc(full_train, candidate)
        on_trial(candidate, auc)
        if auc > best_auc:
            best, best_auc = candidate, auc
    return best


def _inner_auc(frame: pd.DataFrame, recipe: Recipe) -> float:
    matrix, labels = feature_matrix(frame, recipe), labels_of(frame)
    splitter = StratifiedKFold(n_splits=5, shuffle=True, random_state=CV_SEED)
    aucs = []
    for train_rows, test_rows in splitter.split(matrix, labels):
        train = xgb.DMatrix(matrix[train_rows], label=labels[train_rows])
        booster = xgb.train(recipe.params, train, num_boost_round=recipe.rounds)
        aucs.append(roc_auc_score(labels[test_rows], booster.inplace_predict(matrix[test_rows])))
    return float(np.mean(aucs))


def reference_distribution(
    frame: pd.DataFrame, probabilities: npt.NDArray[Any], bins: int = 10
) -> dict[str, Any]:
    """Per-field and per-score bins of the training data, for drift checks later.

    Numeric fields and the default probability get decile edges with the share
    of rows in each bin (and the share missing); categorical fields get the
    share of each label.
    """
    reference: dict[str, Any] = {"numeric": {}, "categorical": {}}
    for name in NUMERIC_FIELDS:
        reference["numeric"][name] = _binned(frame[name].to_numpy(dtype=np.float64), bins)
    for name, labels in CATEGORIES.items():
        shares = frame[name].value_counts(normalize=True)
        reference["categorical"][name] = {label: float(shares.get(label, 0.0)) for label in labels}
    reference["default_probability"] = _binned(np.asarray(probabilities, dtype=np.float64), bins)
    return reference


def _binned(values: npt.NDArray[np.float64], bins: int) -> dict[str, Any]:
    present = values[~np.isnan(values)]
    edges = np.unique(np.quantile(present, np.linspace(0, 1, bins + 1)))
    counts, _ = np.histogram(present, bins=edges)
    return {
        "edges": [float(edge) for edge in edges],
        "shares": [float(count / len(values)) for count in counts],
        "missing_share": float(1 - len(present) / len(values)),
    }


def training_ranges(frame: pd.DataFrame) -> dict[str, list[float]]:
    """Observed [min, max] of each numeric field as the model sees it (NaN skipped).

    Computed on the encoded columns, so an undeclared income (0) is missing
    here exactly as it is for the model.
    """
    encoded = encode_columns(frame)
    return {
        name: [float(np.nanmin(encoded[:, i])), float(np.nanmax(encoded[:, i]))]
        for i, name in enumerate(NUMERIC_FIELDS)
    }
