"""The booster's nodes as XGBoost reads them: thresholds, the float32 ``>=`` rule,
missing values, and which nodes an input can reach."""

from __future__ import annotations

import numpy as np
import pytest
import xgboost as xgb

from credit_risk.model.audit.applications import Applications
from credit_risk.model.audit.splits import (
    MISSING_STATE,
    UnsupportedBoosterError,
    booster_nodes,
    reachable,
    split_states,
    split_thresholds,
)
from credit_risk.model.store import ServedModel


def _stump(values: np.ndarray, labels: np.ndarray) -> xgb.Booster:
    return xgb.train(
        {"objective": "binary:logistic", "max_depth": 1, "nthread": 1, "tree_method": "exact"},
        xgb.DMatrix(values.reshape(-1, 1), label=labels, nthread=1),
        num_boost_round=1,
    )


def test_states_follow_xgboosts_float32_rule_and_missing_side() -> None:
    values = np.repeat([0.1, 0.7], 50).astype(np.float32)
    stump = _stump(values, (values > 0.5).astype(int))
    (threshold,) = split_thresholds(stump)[0]
    below32 = np.nextafter(threshold, np.float32(-np.inf))
    # A float64 just below the threshold rounds onto it in float32: it goes right.
    rounds_up = np.nextafter(np.float64(threshold), -np.inf)
    probes = np.array([threshold, below32, rounds_up, -1e30, 1e30, np.nan])
    states = split_states(probes.astype(np.float32), np.array([threshold]))
    assert states.tolist() == [1, 0, 1, 0, 1, MISSING_STATE]
    predicted = stump.inplace_predict(probes.astype(np.float32).reshape(-1, 1))
    right = predicted[0]
    assert predicted[:5].tolist() == [right if s else predicted[1] for s in states[:5]]
    assert predicted[0] != predicted[1]
    nodes = booster_nodes(stump)
    assert predicted[5] == (predicted[1] if nodes.default_left[0] else right)


def test_thresholds_are_those_of_xgboosts_own_dump(served: ServedModel) -> None:
    frame = served.booster.trees_to_dataframe()
    splits = frame[frame["Feature"] != "Leaf"]
    found = split_thresholds(served.booster)
    assert sum(len(t) for t in found.values()) == len(splits.groupby(["Feature", "Split"]).size())
    for feature, thresholds in found.items():
        dumped = np.unique(splits[splits["Feature"] == f"f{feature}"]["Split"].astype(np.float32))
        np.testing.assert_allclose(thresholds, dumped, rtol=1e-6)
    nodes = booster_nodes(served.booster)
    assert len(nodes.features) == len(splits)


def test_reachable_nodes(served: ServedModel, data: Applications) -> None:
    nodes = booster_nodes(served.booster)
    encoded = data.encoded[:200]
    assert reachable(nodes, encoded, moving=range(encoded.shape[1])).all()
    fixed = reachable(nodes, encoded, moving=())
    roots = nodes.parents < 0
    assert fixed[roots].all()
    # Nothing moves: below a node, exactly one side is reachable. Its internal
    # children hold at most one reachable node, and each node's reach implies its parent's.
    children = ~roots
    assert not (fixed[children] & ~fixed[nodes.parents[children]]).any()
    for parent in np.flatnonzero(np.bincount(nodes.parents[children], minlength=len(roots)) == 2):
        pair = np.flatnonzero(nodes.parents == parent)
        assert not (fixed[pair[0]] & fixed[pair[1]]).any()
    # Some are not: the fixed features rule whole subtrees out.
    assert not fixed.all()


def test_a_dart_booster_is_refused() -> None:
    values = np.linspace(0, 1, 40, dtype=np.float32)
    dart = xgb.train(
        {"objective": "binary:logistic", "booster": "dart", "nthread": 1},
        xgb.DMatrix(values.reshape(-1, 1), label=(values > 0.5).astype(int), nthread=1),
        num_boost_round=2,
    )
    with pytest.raises(UnsupportedBoosterError, match="dart"):
        booster_nodes(dart)
