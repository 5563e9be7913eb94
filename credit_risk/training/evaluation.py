"""Evaluating recipes, and what is stored with the chosen one.

A recipe is evaluated twice (``evaluate_recipe``): 5x5 repeated stratified
cross-validation on all rows, and a fit on the course's train split scored on its
test split (AUC, Brier score, log loss, calibration deciles). ``model_metadata``
turns the chosen recipe's evaluation, the baseline's and the data into the store
entry's ``ModelMetadata``, with the training ranges and the reference
distribution built here from the clean frame.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd
import xgboost as xgb
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score
from sklearn.model_selection import RepeatedStratifiedKFold

from credit_risk.fairness.table import fairness_table
from credit_risk.features import FEATURE_NAMES, encode_columns
from credit_risk.model.metadata import (
    BinnedField,
    CalibrationBin,
    FairLendingProofs,
    FairnessTable,
    Metrics,
    ModelMetadata,
    Reference,
)
from credit_risk.outcomes.stats import discrimination
from credit_risk.policy import DecisionPolicy
from credit_risk.training.data import Dataset
from credit_risk.training.recipes import (
    CV_SEED,
    XGBOOST_VERSION,
    Recipe,
    course_split,
    feature_matrix,
    fit,
    labels_of,
    predict,
)
from credit_risk.vocabulary import CATEGORIES, NUMERIC_FIELDS

CV_SPLITS: Final = 5
CV_REPEATS: Final = 5


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
) -> list[CalibrationBin]:
    """Observed default rate against mean predicted probability, per probability decile."""
    order = np.argsort(probabilities, kind="stable")
    return [
        CalibrationBin(
            n=len(rows),
            mean_predicted=float(np.mean(probabilities[rows])),
            observed_rate=float(np.mean(labels[rows])),
            min_predicted=float(np.min(probabilities[rows])),
            max_predicted=float(np.max(probabilities[rows])),
        )
        for rows in np.array_split(order, bins)
    ]


@dataclass(frozen=True)
class HoldoutEvaluation:
    """Metrics of a recipe trained on the course's full-train split and scored on its test split."""

    auc: float
    brier: float
    log_loss: float
    calibration: list[CalibrationBin]
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


@dataclass(frozen=True)
class RecipeEvaluation:
    """A recipe with its cross-validation and its holdout evaluation."""

    recipe: Recipe
    cv: CrossValidation
    holdout: HoldoutEvaluation

    @property
    def metrics(self) -> Metrics:
        """The figures the tables, the report and the store entry show."""
        return Metrics(
            cv_auc=self.cv.mean,
            cv_auc_std=self.cv.std,
            test_auc=self.holdout.auc,
            brier=self.holdout.brier,
            log_loss=self.holdout.log_loss,
        )


def evaluate_recipes(
    frame: pd.DataFrame,
    recipes: Mapping[str, Recipe],
    *,
    on_fold: Callable[[str], None] = lambda name: None,
) -> dict[str, RecipeEvaluation]:
    """Each named recipe cross-validated and evaluated on the course's split, in order;
    ``on_fold(name)`` after every cross-validation fold, for progress."""
    return {
        name: RecipeEvaluation(
            recipe,
            cross_validate(frame, recipe, on_fold=lambda name=name: on_fold(name)),
            evaluate_on_course_split(frame, recipe),
        )
        for name, recipe in recipes.items()
    }


def holdout_fairness(
    frame: pd.DataFrame, holdout: HoldoutEvaluation, policy: DecisionPolicy
) -> FairnessTable:
    """The fairness table of the course's test split, decided by ``policy`` on the
    holdout's probabilities, with the observed defaults."""
    _, test = course_split(frame)
    probabilities = holdout.probabilities.astype(np.float64)
    return fairness_table(
        "held-out: the course's test split, by a fit on its train split",
        age=test["age"].to_numpy(dtype=np.float64),
        marital=test["marital"].to_numpy(dtype=object),
        status=[policy.status(p) for p in probabilities.tolist()],
        probability=probabilities,
        defaulted=holdout.labels.astype(bool),
    )


def model_metadata(
    dataset: Dataset,
    chosen: RecipeEvaluation,
    *,
    baseline: RecipeEvaluation,
    policy: DecisionPolicy,
    proofs: FairLendingProofs,
) -> ModelMetadata:
    """The store entry's metadata for the chosen recipe fitted on ``dataset``'s frame,
    with what was proven on the fitted trees."""
    frame = dataset.frame
    assert chosen.cv.out_of_fold is not None  # cross_validate always fills it
    holdout = chosen.holdout
    auc = discrimination(holdout.probabilities.astype(np.float64), holdout.labels.astype(bool))
    return ModelMetadata(
        **chosen.metrics.model_dump(),
        n_rows=len(frame),
        data_sha256=dataset.sha256,
        data_source=dataset.source,
        features=list(FEATURE_NAMES),
        params={**chosen.recipe.params, "num_boost_round": chosen.recipe.rounds},
        xgboost_version=XGBOOST_VERSION,
        policy=policy,
        training_ranges=training_ranges(frame),
        reference=reference_distribution(frame, chosen.cv.out_of_fold),
        calibration=chosen.holdout.calibration,
        baseline=baseline.metrics,
        trained_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        test_auc_interval=auc.auc_interval,
        proofs=proofs,
        fairness=holdout_fairness(frame, holdout, policy),
    )


def reference_distribution(
    frame: pd.DataFrame, probabilities: npt.NDArray[Any], bins: int = 10
) -> Reference:
    """Per-field and per-score bins of the training data, for drift checks later.

    Numeric fields and the default probability get decile edges with the share
    of rows in each bin (and the share missing); categorical fields get the
    share of each label.
    """
    categorical = {}
    for name, labels in CATEGORIES.items():
        shares = frame[name].value_counts(normalize=True)
        categorical[name] = {label: float(shares.get(label, 0.0)) for label in labels}
    return Reference(
        numeric={
            name: _binned(frame[name].to_numpy(dtype=np.float64), bins) for name in NUMERIC_FIELDS
        },
        categorical=categorical,
        default_probability=_binned(np.asarray(probabilities, dtype=np.float64), bins),
    )


def _binned(values: npt.NDArray[np.float64], bins: int) -> BinnedField:
    present = values[~np.isnan(values)]
    edges = np.unique(np.quantile(present, np.linspace(0, 1, bins + 1)))
    counts, _ = np.histogram(present, bins=edges)
    return BinnedField(
        edges=[float(edge) for edge in edges],
        shares=[float(count / len(values)) for count in counts],
        missing_share=float(1 - len(present) / len(values)),
    )


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
