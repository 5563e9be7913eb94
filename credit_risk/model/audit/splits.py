"""A booster's internal nodes, and where an input stands among their thresholds.

XGBoost reads every input as float32 and sends it left at a node when
``x < threshold``, right when ``x >= threshold``; a missing value goes to the node's
default side. So for one feature, every node that splits on it decides by which of
the feature's sorted thresholds ``x`` has reached: an input's *state* for a feature
(how many thresholds are ``<= x``, or missing) fixes every decision on that feature.
Two inputs with the same states for every feature fall in the same leaves of every
tree, hence get the same output.

Only the nodes an input can reach matter to it: ``reachable`` tells, per node and
input, whether the decisions on the features held fixed let the input get there.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import xgboost as xgb

MISSING_STATE: Final = -1
"""The state of a missing (NaN) input: the default side of every node."""


class UnsupportedBoosterError(ValueError):
    """The booster has splits that thresholds alone do not describe."""


@dataclass(frozen=True)
class Nodes:
    """Every reachable internal node of a booster, a parent before its children."""

    features: npt.NDArray[np.intp]
    thresholds: npt.NDArray[np.float32]
    default_left: npt.NDArray[np.bool_]
    parents: npt.NDArray[np.intp]
    """Index of the parent node, -1 for a tree's root."""
    right_child: npt.NDArray[np.bool_]
    """Whether the node is its parent's right child (``x >= threshold`` there)."""

    def thresholds_of(self, feature: int) -> npt.NDArray[np.float32]:
        """The distinct thresholds of ``feature``'s nodes, sorted."""
        return np.unique(self.thresholds[self.features == feature])

    def goes_right(self, node: int, values: npt.NDArray[np.float32]) -> npt.NDArray[np.bool_]:
        """XGBoost's decision at ``node`` for float32 ``values`` of its feature."""
        values = np.asarray(values, dtype=np.float32)
        return np.where(np.isnan(values), ~self.default_left[node], values >= self.thresholds[node])


def booster_nodes(booster: xgb.Booster) -> Nodes:
    """The internal nodes of a ``gbtree`` booster with numerical splits.

    Raises ``UnsupportedBoosterError`` for another booster or categorical splits.
    """
    learner = json.loads(booster.save_raw("json"))["learner"]
    kind = learner["gradient_booster"]["name"]
    if kind != "gbtree":
        raise UnsupportedBoosterError(f"booster {kind!r}, not 'gbtree'")
    rows: list[tuple[int, float, bool, int, bool]] = []
    for index, tree in enumerate(learner["gradient_booster"]["model"]["trees"]):
        if any(tree["split_type"]) or tree["categories"]:
            raise UnsupportedBoosterError(f"tree {index} has categorical splits")
        _collect(tree, rows)
    features, thresholds, default_left, parents, right_child = (
        zip(*rows, strict=True) if rows else ((),) * 5
    )
    return Nodes(
        features=np.asarray(features, dtype=np.intp),
        # Stored as float32 by XGBoost, written exactly; compared in float32.
        thresholds=np.asarray(thresholds, dtype=np.float32),
        default_left=np.asarray(default_left, dtype=bool),
        parents=np.asarray(parents, dtype=np.intp),
        right_child=np.asarray(right_child, dtype=bool),
    )


def _collect(tree: dict[str, Any], rows: list[tuple[int, float, bool, int, bool]]) -> None:
    # Reachable internal nodes only (a pruned node stays in the arrays), breadth first,
    # so that a parent comes before its children.
    left, right = tree["left_children"], tree["right_children"]
    pending: list[tuple[int, int, bool]] = [(0, -1, False)]
    while pending:
        node, parent, is_right = pending.pop(0)
        if left[node] == -1:
            continue
        index = len(rows)
        rows.append(
            (
                int(tree["split_indices"][node]),
                float(tree["split_conditions"][node]),
                bool(tree["default_left"][node]),
                parent,
                is_right,
            )
        )
        pending += [(left[node], index, False), (right[node], index, True)]


def split_thresholds(booster: xgb.Booster) -> dict[int, npt.NDArray[np.float32]]:
    """Per feature index the booster splits on, its distinct thresholds, sorted."""
    nodes = booster_nodes(booster)
    return {int(f): nodes.thresholds_of(int(f)) for f in np.unique(nodes.features)}


def split_states(
    values: npt.NDArray[np.float32], thresholds: npt.NDArray[np.float32]
) -> npt.NDArray[np.int64]:
    """Per float32 input value, how many of the sorted ``thresholds`` are ``<= value``
    (the nodes that send it right), or ``MISSING_STATE`` for NaN."""
    values = np.asarray(values, dtype=np.float32)
    # Compared in float32, as XGBoost compares: a float64 value just below a
    # threshold can round onto it.
    states = np.searchsorted(thresholds, values, side="right").astype(np.int64)
    states[np.isnan(values)] = MISSING_STATE
    return states


def reachable(
    nodes: Nodes, encoded: npt.NDArray[np.float32], moving: Collection[int]
) -> npt.NDArray[np.bool_]:
    """(nodes, rows): whether each row of ``encoded`` can reach each node when the
    features ``moving`` take any values and the others stay as they are."""
    reach = np.ones((len(nodes.features), len(encoded)), dtype=bool)
    moving = set(moving)
    for node, parent in enumerate(nodes.parents.tolist()):
        if parent < 0:
            continue
        reach[node] = reach[parent]
        feature = int(nodes.features[parent])
        if feature not in moving:
            goes_right = nodes.goes_right(parent, encoded[:, feature])
            reach[node] &= goes_right == nodes.right_child[node]
    return reach
