"""The fair-lending proofs on the trees: they hold on the served model, what they claim is
true of its answers, and each safeguard turned off in training is caught before a model
could be saved (``require_proofs``, which ``train.py`` calls)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
import xgboost as xgb

from credit_risk.features import (
    AGE_GROUP,
    ELDERLY_AGE,
    FEATURE_NAMES,
    FEATURE_SOURCES,
    MONOTONE_CONSTRAINTS,
)
from credit_risk.model.audit import proofs
from credit_risk.model.audit.applications import Applications
from credit_risk.model.audit.elderly import YOUNGER_AGES
from credit_risk.model.audit.splits import split_thresholds
from credit_risk.model.store import ServedModel
from credit_risk.policy import PROTECTED_FIELDS
from credit_risk.vocabulary import APPLICATION_FIELDS, FIELD_DIRECTIONS
from tests.unit.model.audit.models import (
    AGE_FREE,
    AGE_MIXED,
    AGE_UNCONSTRAINED,
    MARITAL_SCORED,
    UNCONSTRAINED,
    Safeguards,
    SmallModel,
    against_direction,
    defaults,
    older_default,
    single_default,
    small_model,
)

_AGE = FEATURE_NAMES.index("age")


def test_every_proof_holds_on_the_served_model_as_its_metadata_says(
    served: ServedModel,
) -> None:
    proven = proofs.require_proofs(served.booster, served.policy.protected_fields)
    assert proven.failures() == [] and proven.scored_protected == []
    assert proven.protected_fields == list(PROTECTED_FIELDS)
    assert set(proven.directions) == set(FIELD_DIRECTIONS)
    assert all(violations == [] for violations in proven.directions.values())
    assert proven.elderly is not None and proven.elderly.holds
    # Age is read (in trees of its own), so the rule is not vacuous.
    assert proven.elderly.age_trees > 0 and "age" in proven.scored_fields
    # What train.py stored with the model is this proof.
    assert served.metadata.proofs == proven.summary()
    assert served.metadata.proofs.directions == FIELD_DIRECTIONS
    assert served.metadata.proofs.age_read_as == f"min(age, {ELDERLY_AGE})"


def _split_features(booster: xgb.Booster) -> set[str]:
    """The features of XGBoost's own dump of the trees' splits."""
    frame = booster.trees_to_dataframe()
    return {FEATURE_NAMES[int(f[1:])] for f in frame["Feature"].unique() if f != "Leaf"}


@pytest.mark.parametrize("model", ["served", "compliant", "marital"])
def test_scored_fields_are_the_fields_of_the_features_split_on(
    served: ServedModel, compliant: SmallModel, course_frame: pd.DataFrame, model: str
) -> None:
    if model == "served":
        booster = served.booster
    elif model == "compliant":
        booster = compliant.booster
    else:
        booster = small_model(course_frame, single_default(course_frame), MARITAL_SCORED).booster
    used = _split_features(booster)
    expected = [
        name
        for name in APPLICATION_FIELDS
        if any(name in FEATURE_SOURCES[feature] for feature in used)
    ]
    scored = proofs.scored_fields(booster)
    assert sorted(scored) == sorted(expected)
    assert ("marital" in scored) == (model == "marital")
    assert set(split_thresholds(booster)) == {FEATURE_NAMES.index(f) for f in used}


def _monotone_on_every_threshold(
    booster: xgb.Booster, rows: npt.NDArray[np.float32], feature: int, sense: int
) -> bool:
    """Brute force: each row with ``feature`` set to every value around its thresholds
    (and missing excluded) gets margins that move only in ``sense``."""
    thresholds = split_thresholds(booster).get(feature, np.zeros(0, dtype=np.float32))
    values = np.unique(
        np.concatenate(
            [
                thresholds,
                np.nextafter(thresholds, np.float32(-np.inf)),
                [np.float32(-1e9), np.float32(1e9)],
            ]
        ).astype(np.float32)
    )
    moved = np.repeat(rows, len(values), axis=0)
    moved[:, feature] = np.tile(values, len(rows))
    margins = booster.inplace_predict(moved, predict_type="margin").reshape(len(rows), -1)
    steps = np.diff(margins.astype(np.float64), axis=1) * sense
    return bool((steps >= 0).all())


def test_a_feature_proven_monotone_is_monotone_on_every_threshold(
    compliant: SmallModel, course_frame: pd.DataFrame, data: Applications
) -> None:
    rows = data.encoded[::40]
    for name, sense in MONOTONE_CONSTRAINTS.items():
        assert not proofs.monotone_violations(compliant.booster, {name: sense}), name
        assert _monotone_on_every_threshold(
            compliant.booster, rows, FEATURE_NAMES.index(name), sense
        ), name
    # Without constraints the proof finds violations, and brute force finds some of them
    # (a violating node is not always reachable by a single input: the proof is sufficient).
    free = small_model(course_frame, defaults(course_frame), UNCONSTRAINED).booster
    violations = proofs.monotone_violations(free, MONOTONE_CONSTRAINTS)
    assert violations and all(v.gap > 0 for v in violations)
    assert {v.feature for v in violations} <= set(MONOTONE_CONSTRAINTS)
    broken = [
        name
        for name, sense in MONOTONE_CONSTRAINTS.items()
        if not _monotone_on_every_threshold(free, rows, FEATURE_NAMES.index(name), sense)
    ]
    assert broken and set(broken) <= {v.feature for v in violations}


@pytest.mark.parametrize("population", ["data", "generated"])
def test_the_elderly_proofs_claims_hold_on_every_elderly_applicant(
    served: ServedModel, data: Applications, generated: Applications, population: str
) -> None:
    applications = data if population == "data" else generated
    elderly = np.flatnonzero(applications.numeric["age"] >= ELDERLY_AGE)
    assert len(elderly) > 50
    scored = served.explain(applications.encoded[elderly])
    # Age's contribution is never positive...
    age_contribution = scored[:, 1 + APPLICATION_FIELDS.index("age")]
    assert (age_contribution <= 0).all()
    # ...and is the same for every elderly applicant: the age trees' leaf at 62 less
    # each tree's cover-weighted mean leaf, as the proof computes it.
    np.testing.assert_allclose(age_contribution, _age_contribution_at(served.booster, 62))
    # Their probability at their own age is at most at every age from 18 to 61.
    rows = np.repeat(elderly, len(YOUNGER_AGES))
    ages = np.tile(np.asarray(YOUNGER_AGES, dtype=np.float64), len(elderly))
    younger = served.explain(applications.with_numeric("age", rows, ages))[:, 0]
    younger = younger.reshape(len(elderly), len(YOUNGER_AGES))
    assert (scored[:, :1] <= younger).all()
    assert (scored[:, :1] < younger).any()  # age moves the risk: the claim is not vacuous


def _age_contribution_at(booster: xgb.Booster, age: float) -> float:
    """Sum over the trees that split on age alone of the leaf reached at ``age`` less the
    tree's cover-weighted mean leaf: TreeSHAP's value for a tree of one feature."""
    frame = booster.trees_to_dataframe()
    total = 0.0
    for _, tree in frame.groupby("Tree"):
        splits = tree[tree["Feature"] != "Leaf"]
        if set(splits["Feature"]) != {f"f{_AGE}"}:
            assert f"f{_AGE}" not in set(splits["Feature"]), "age mixed with other features"
            continue
        nodes = tree.set_index("ID")
        leaves = tree[tree["Feature"] == "Leaf"]
        mean = float((leaves["Gain"] * leaves["Cover"]).sum() / leaves["Cover"].sum())
        node = tree["ID"].iloc[0]
        while nodes.loc[node, "Feature"] != "Leaf":
            below = np.float32(age) < np.float32(nodes.loc[node, "Split"])
            node = nodes.loc[node, "Yes"] if below else nodes.loc[node, "No"]
        total += float(nodes.loc[node, "Gain"]) - mean
    return total


@pytest.mark.parametrize(
    ("safeguards", "labels", "message"),
    [
        (MARITAL_SCORED, single_default, "the trees split on marital, a protected field"),
        (AGE_FREE, older_default, "the elderly rule is not proven"),
        (AGE_UNCONSTRAINED, older_default, "nodes let risk rise with age"),
        (AGE_MIXED, older_default, "trees mix age with other features"),
    ],
    ids=["marital-not-hidden", "age-free", "age-unconstrained", "age-not-alone"],
)
def test_a_model_with_a_safeguard_off_is_refused(
    course_frame: pd.DataFrame,
    safeguards: Safeguards,
    labels: Callable[[pd.DataFrame], npt.NDArray[np.int8]],
    message: str,
) -> None:
    model = small_model(course_frame, labels(course_frame), safeguards)
    with pytest.raises(proofs.ModelPropertyError, match=message):
        proofs.require_proofs(model.booster, PROTECTED_FIELDS)
    proven = proofs.prove(model.booster, PROTECTED_FIELDS)
    assert proven.failures()
    if safeguards is MARITAL_SCORED:
        assert proven.scored_protected == ["marital"] and proven.summary().elderly_rule
    else:
        assert proven.elderly is not None and not proven.elderly.holds
        assert proven.scored_protected == [] and not proven.summary().elderly_rule
    if safeguards is AGE_MIXED:
        assert proven.elderly is not None and proven.elderly.mixed_trees
    if safeguards is AGE_UNCONSTRAINED:
        assert proven.elderly is not None and proven.elderly.monotone
        assert not proven.elderly.mixed_trees and proven.elderly.raising_trees


@pytest.mark.parametrize("field", FIELD_DIRECTIONS)
def test_a_model_without_monotone_constraints_is_refused_for_each_direction(
    course_frame: pd.DataFrame, field: str
) -> None:
    model = small_model(course_frame, against_direction(course_frame, field), UNCONSTRAINED)
    with pytest.raises(proofs.ModelPropertyError, match=f"{field}'s direction is not proven"):
        proofs.require_proofs(model.booster, PROTECTED_FIELDS)
    violations = proofs.prove(model.booster, PROTECTED_FIELDS).directions[field]
    assert violations
    senses = proofs.field_senses(field, FIELD_DIRECTIONS[field])
    assert {v.feature for v in violations} <= set(senses)
    assert all(v.sense == senses[v.feature] for v in violations)
    assert field not in proofs.prove(model.booster, PROTECTED_FIELDS).summary().directions


def test_the_age_group_is_age_alone() -> None:
    # The elderly proof reads one age feature; the encoding feeds age to nothing else.
    assert AGE_GROUP == ("age",)
    assert [name for name, sources in FEATURE_SOURCES.items() if "age" in sources] == ["age"]
