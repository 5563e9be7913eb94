"""The compiled explainer against its oracle, XGBoost, and its fallback to XGBoost.

Exact means: every probability within 1e-6 of ``inplace_predict`` and every
field's contribution within 1e-5 of ``pred_contribs`` summed to the fields,
on the served model (every row of the data, generated applications, missing
income/assets/debt, values at every split threshold) and on small boosters
trained here to reach shapes the served one may not have.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging

import bentoml
import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
import xgboost as xgb

from credit_risk.features import FEATURE_NAMES, encode_columns
from credit_risk.generator import ApplicationGenerator
from credit_risk.model import explainer, xgboost_reasons
from credit_risk.model.store import ServedModel, load_from_store
from credit_risk.reasons import FIELD_WEIGHTS
from credit_risk.training.recipes import DEFAULT_RECIPE
from credit_risk.vocabulary import NULLABLE_FIELDS

PROBABILITY_TOLERANCE = 1e-6
CONTRIBUTION_TOLERANCE = 1e-5


def assert_agrees_with_xgboost(
    compiled: explainer.CompiledExplainer,
    booster: xgb.Booster,
    rows: npt.NDArray[np.float32],
    weights: npt.NDArray[np.float32] = FIELD_WEIGHTS,
    batches: tuple[int, ...] = (),
) -> None:
    """XGBoost as the oracle: probabilities and contributions mapped to the outputs.

    ``rows`` are explained whole, then in batches of each size in ``batches``.
    """
    probabilities = booster.inplace_predict(rows)
    contributions = booster.predict(xgb.DMatrix(rows, nthread=1), pred_contribs=True) @ weights
    for batch in (len(rows), *batches):
        chunks = np.array_split(rows, max(1, len(rows) // batch))
        answer = np.concatenate([compiled.explain(chunk) for chunk in chunks])
        assert answer.shape == (len(rows), 1 + weights.shape[1])
        assert answer.dtype == np.float32
        np.testing.assert_allclose(
            answer[:, 0], probabilities, rtol=0, atol=PROBABILITY_TOLERANCE, err_msg=f"{batch=}"
        )
        np.testing.assert_allclose(
            answer[:, 1:], contributions, rtol=0, atol=CONTRIBUTION_TOLERANCE, err_msg=f"{batch=}"
        )


@pytest.fixture(scope="module")
def served(trained_model: str) -> ServedModel:
    """The model train.py stored, loaded as the service loads it."""
    loaded = load_from_store(bentoml.models.get(trained_model), nthread=1)
    assert loaded.compiled is not None, "the served model must compile"
    return loaded


@pytest.fixture(scope="module")
def compiled(served: ServedModel) -> explainer.CompiledExplainer:
    """The served model's compiled explainer."""
    assert served.compiled is not None
    return served.compiled


@pytest.fixture(scope="module")
def data_rows(course_frame: pd.DataFrame) -> npt.NDArray[np.float32]:
    """Every application of the canonical data, encoded."""
    return encode_columns(course_frame)


def test_served_model_compiles_its_375_depth_3_trees(
    served: ServedModel, compiled: explainer.CompiledExplainer, data_rows: npt.NDArray[np.float32]
) -> None:
    assert compiled.n_trees == served.booster.num_boosted_rounds() == DEFAULT_RECIPE.rounds
    assert compiled.n_outputs == 1 + len(FIELD_WEIGHTS[0])
    # ServedModel.explain, the one entry point, answers from the table.
    rows = data_rows[:5]
    np.testing.assert_array_equal(served.explain(rows), compiled.explain(rows))


def test_every_row_of_the_data(
    served: ServedModel, compiled: explainer.CompiledExplainer, data_rows: npt.NDArray[np.float32]
) -> None:
    assert len(data_rows) == 4454
    # Small batches take another path through numpy: every row that way too.
    assert_agrees_with_xgboost(
        compiled, served.booster, data_rows, batches=(1, 16, explainer.SMALL_BATCH)
    )


def test_an_application_gets_the_same_answer_in_any_batch(
    compiled: explainer.CompiledExplainer, data_rows: npt.NDArray[np.float32]
) -> None:
    # Bit for bit: /classify, /classify_batch, /classify_csv and score.py batch
    # differently, and the same application must not move with its neighbours.
    whole = compiled.explain(data_rows[:1000])
    for size in (1, 7, explainer.SMALL_BATCH, explainer.SMALL_BATCH + 1, 333):
        parts = [compiled.explain(data_rows[i : min(i + size, 1000)]) for i in range(0, 1000, size)]
        np.testing.assert_array_equal(np.vstack(parts), whole)


def test_generated_applications(served: ServedModel, compiled: explainer.CompiledExplainer) -> None:
    applications = ApplicationGenerator(served.metadata.reference, seed=7).draw(3000)
    rows = encode_columns(pd.DataFrame(applications))
    assert np.isnan(rows).any(), "the generator draws missing values too"
    assert_agrees_with_xgboost(compiled, served.booster, rows)


def test_missing_income_assets_and_debt(
    served: ServedModel, compiled: explainer.CompiledExplainer, course_frame: pd.DataFrame
) -> None:
    sample = course_frame.sample(300, random_state=5)
    frames = []
    for count in range(1, len(NULLABLE_FIELDS) + 1):
        for fields in itertools.combinations(NULLABLE_FIELDS, count):
            frames.append(sample.assign(**dict.fromkeys(fields, np.nan)))
    rows = encode_columns(pd.concat(frames))
    assert len(rows) == 7 * 300
    assert_agrees_with_xgboost(compiled, served.booster, rows)


def test_values_exactly_at_and_just_below_every_split_threshold(
    served: ServedModel, compiled: explainer.CompiledExplainer, data_rows: npt.NDArray[np.float32]
) -> None:
    features, thresholds = compiled.splits()
    assert len(features) > 500, "a 375-tree model has hundreds of distinct splits"
    at = explainer.threshold_rows(compiled, data_rows[::7])
    rank = np.arange(len(features)) - np.searchsorted(features, features)
    assert np.array_equal(at[rank, features], thresholds), "every split is at its threshold"
    below = at.copy()
    below[rank, features] = np.nextafter(thresholds, np.float32(-np.inf))
    # One split at a time, too: a row that differs from a data row only there.
    single = np.repeat(data_rows[:1], len(features), axis=0)
    single[np.arange(len(features)), features] = thresholds
    for rows in (at, below, single):
        assert_agrees_with_xgboost(compiled, served.booster, rows)


def test_a_single_row_and_odd_dtypes(
    served: ServedModel, compiled: explainer.CompiledExplainer, data_rows: npt.NDArray[np.float32]
) -> None:
    for rows in (data_rows[:1], data_rows[3:4].astype(np.float64), data_rows[::-3][:16]):
        assert_agrees_with_xgboost(compiled, served.booster, np.asarray(rows))


def test_rows_of_another_width_are_refused(
    compiled: explainer.CompiledExplainer, data_rows: npt.NDArray[np.float32]
) -> None:
    for rows in (data_rows[:2, :-1], np.hstack([data_rows[:2], data_rows[:2]]), data_rows[0]):
        with pytest.raises(ValueError, match=f"expected rows of {len(FEATURE_NAMES)} features"):
            compiled.explain(rows)


def _small_booster(seed: int, **params: object) -> tuple[xgb.Booster, npt.NDArray[np.float32]]:
    """A few trees on noisy data with a third of the values missing, and that data."""
    rng = np.random.default_rng(seed)
    rows = rng.normal(size=(600, 6)).astype(np.float32)
    rows[:, 5] = rng.integers(0, 4, size=600)  # ties: many rows exactly at thresholds
    labels = (rows[:, 0] + rows[:, 1] * rows[:, 2] + rng.normal(size=600) > 0).astype(int)
    rows[rng.random(rows.shape) < 0.3] = np.nan
    booster = xgb.train(
        {"objective": "binary:logistic", "max_depth": 3, "nthread": 1, "seed": seed, **params},
        xgb.DMatrix(rows, label=labels),
        num_boost_round=30,
    )
    return booster, rows


SMALL_WEIGHTS = np.eye(7, 4, dtype=np.float32)
"""Outputs for a small booster: its first four features (bias and the rest dropped)."""


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"max_depth": 2},
        {"gamma": 2.0, "base_score": 0.2},  # pruned trees, and another base margin
        {"min_child_weight": 150.0},  # trees with one split or none
        {"colsample_bynode": 0.3, "eta": 1.0},
    ],
    ids=["depth3", "depth2", "pruned", "stumps", "sampled"],
)
def test_small_boosters_with_missing_values_and_ties(params: dict[str, object]) -> None:
    booster, rows = _small_booster(seed=len(params), **params)
    compiled = explainer.compile_booster(booster, SMALL_WEIGHTS)
    features, thresholds = compiled.splits()
    at = explainer.threshold_rows(compiled, rows)
    # XGBoost refuses infinities; the encoding clamps to float32's range.
    largest = np.finfo(np.float32).max
    extremes = np.array([[largest] * 6, [-largest] * 6, [np.nan] * 6], dtype=np.float32)
    assert_agrees_with_xgboost(
        compiled, booster, np.concatenate([rows, at, extremes]), SMALL_WEIGHTS
    )
    assert len(features) == len(np.unique(np.column_stack([features, thresholds]), axis=0))


@pytest.mark.parametrize(
    ("params", "why"),
    [
        ({"max_depth": 6}, "internal nodes"),
        ({"objective": "binary:logitraw"}, "objective"),
        ({"objective": "reg:squarederror"}, "objective"),
        ({"num_parallel_tree": 2}, "trees per round"),
    ],
)
def test_refuses_what_it_cannot_represent(params: dict[str, object], why: str) -> None:
    booster, _ = _small_booster(seed=3, **params)
    with pytest.raises(explainer.UnsupportedModelError, match=why):
        explainer.compile_booster(booster, SMALL_WEIGHTS)


def test_verify_refuses_a_table_that_drifted(
    served: ServedModel, compiled: explainer.CompiledExplainer, data_rows: npt.NDArray[np.float32]
) -> None:
    rows = data_rows[:200]
    expected = xgboost_reasons.explain(served.booster, rows, nthread=1)
    assert explainer.verify(compiled, rows, expected).contribution <= CONTRIBUTION_TOLERANCE
    for column, error in ((0, 1e-5), (5, 1e-4)):
        table = compiled.table.copy()
        table[:, column] += error
        drifted = dataclasses.replace(compiled, table=table)
        with pytest.raises(explainer.ExplainerMismatchError, match="differ from XGBoost"):
            explainer.verify(drifted, rows, expected)


def test_refused_model_loads_with_xgboosts_path_and_says_why(
    refused_model: tuple[str, xgb.Booster], caplog: pytest.LogCaptureFixture
) -> None:
    tag, _ = refused_model
    with caplog.at_level(logging.WARNING, logger="credit_risk.model.store"):
        loaded = load_from_store(bentoml.models.get(tag), nthread=1)
    assert loaded.compiled is None
    (line,) = [r.getMessage() for r in caplog.records if "compiled explainer refused" in r.message]
    assert tag in line and "internal nodes" in line and "pred_contribs" in line
