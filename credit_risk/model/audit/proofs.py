"""The fair-lending properties of a booster, proven on its trees for every application.

The audits beside this module measure properties row by row; this one proves them
once, for any application the API accepts, from the trees alone. ``train.py`` refuses
to save a model that fails (``require_proofs``), and serving refuses to load one that
scores a protected field (``model.store``).

**Protected fields.** A field is scored when some tree splits on a feature computed
from it (``features.FEATURE_SOURCES``). A field no tree splits on contributes
nothing to any output, so it can never be among an application's reasons.

**Directions.** A tree is non-decreasing in feature ``x`` for *every* input when, at
each node splitting on ``x``, every leaf under the left child (``x < threshold``) is
at most every leaf under the right one: two inputs that differ in ``x`` alone part at
the first node on ``x`` that tells them apart, the smaller to the left. (XGBoost's
monotone constraints keep exactly these bounds.) A sum of trees non-decreasing in
``x`` is non-decreasing in ``x``; non-increasing is the mirror. For a field with a
declared direction, every feature it feeds moves one way as the field grows
(``features.FED_FEATURE_SLOPES``, checked on the encoding by a unit test; within the
API's domain a fed feature is finite, or missing whatever the field); so the field's
direction holds for every application when the booster moves with each fed feature
in the sense the slope and the direction give.

**The elderly rule** (Regulation B, 12 CFR 1002.6(b)(2)(ii)). The model reads
``min(age, 62)`` (``features.ELDERLY_AGE``) and no other feature comes from age. When
every tree that splits on age splits on nothing else, the margin is ``g(age) +
h(everything else)``; when the booster is non-increasing in age, ``g`` is, so an
applicant aged 62 or more (read as 62, the largest value) gets a probability no
higher than at any younger age. Age's contribution (TreeSHAP) is then the sum over
those trees of ``leaf(62) - E``, ``E`` the tree's cover-weighted mean leaf: each is
checked to be at most 0, so age raises no elderly applicant's risk and, reasons
being positive contributions only, is never among their reasons.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from credit_risk.features import (
    AGE_GROUP,
    ELDERLY_AGE,
    FEATURE_NAMES,
    FEATURE_SOURCES,
    FED_FEATURE_SLOPES,
)
from credit_risk.model.lean_xgboost import xgb
from credit_risk.model.metadata import FairLendingProofs
from credit_risk.vocabulary import FIELD_DIRECTIONS

AGE_DIRECTION = -1
"""The sense the elderly rule needs of age: an older applicant is never riskier."""


class ModelPropertyError(RuntimeError):
    """A trained model fails a fair-lending property: it must not be saved or served."""


@dataclass(frozen=True)
class _Tree:
    features: list[int]
    thresholds: list[float]
    left: list[int]
    right: list[int]
    values: list[float]
    """Leaf values (``base_weights`` at leaves)."""
    covers: list[float]


def _trees(booster: xgb.Booster) -> list[_Tree]:
    model = json.loads(booster.save_raw("json"))["learner"]["gradient_booster"]["model"]
    return [
        _Tree(
            features=tree["split_indices"],
            thresholds=tree["split_conditions"],
            left=tree["left_children"],
            right=tree["right_children"],
            values=tree["base_weights"],
            covers=tree["sum_hessian"],
        )
        for tree in model["trees"]
    ]


def _reachable_splits(tree: _Tree) -> list[int]:
    """The internal nodes reachable from the root (a pruned node stays in the arrays)."""
    nodes, pending = [], [0]
    while pending:
        node = pending.pop()
        if tree.left[node] != -1:
            nodes.append(node)
            pending += [tree.left[node], tree.right[node]]
    return nodes


def _leaves(tree: _Tree, node: int) -> list[int]:
    if tree.left[node] == -1:
        return [node]
    return _leaves(tree, tree.left[node]) + _leaves(tree, tree.right[node])


@dataclass(frozen=True)
class MonotoneViolation:
    """A node where the trees move against a required sense."""

    tree: int
    node: int
    feature: str
    sense: int
    gap: float
    """How far the leaves cross: the left subtree's extreme beyond the right one's."""


def monotone_violations(booster: xgb.Booster, senses: dict[str, int]) -> list[MonotoneViolation]:
    """Every node splitting on a feature of ``senses`` (+1: non-decreasing, -1:
    non-increasing) whose leaves break the bound the module's docstring describes."""
    wanted = {FEATURE_NAMES.index(name): sense for name, sense in senses.items() if sense}
    violations = []
    for index, tree in enumerate(_trees(booster)):
        for node in _reachable_splits(tree):
            sense = wanted.get(tree.features[node])
            if sense is None:
                continue
            left = [tree.values[leaf] for leaf in _leaves(tree, tree.left[node])]
            right = [tree.values[leaf] for leaf in _leaves(tree, tree.right[node])]
            gap = max(left) - min(right) if sense > 0 else max(right) - min(left)
            if gap > 0:
                violations.append(
                    MonotoneViolation(index, node, FEATURE_NAMES[tree.features[node]], sense, gap)
                )
    return violations


def scored_fields(booster: xgb.Booster) -> list[str]:
    """The application fields some tree splits on a feature of, in feature order."""
    used = {tree.features[node] for tree in _trees(booster) for node in _reachable_splits(tree)}
    fields: list[str] = []
    for feature in sorted(used):
        fields += [f for f in FEATURE_SOURCES[FEATURE_NAMES[feature]] if f not in fields]
    return fields


def field_senses(field_name: str, direction: int) -> dict[str, int]:
    """The sense the booster must move in with each feature ``field_name`` feeds, for
    the field to move the risk in ``direction``."""
    return {name: slope * direction for name, slope in FED_FEATURE_SLOPES[field_name].items()}


@dataclass(frozen=True)
class ElderlyProof:
    """The elderly rule's premises on the trees."""

    age_trees: int
    """Trees that split on age."""
    mixed_trees: list[int]
    """Trees that split on age and on something else (the rule needs none)."""
    monotone: list[MonotoneViolation]
    """Nodes where the booster is not non-increasing in age."""
    raising_trees: list[int]
    """Trees where age 62 falls in a leaf above the tree's mean: a positive contribution."""

    @property
    def holds(self) -> bool:
        """The rule holds for every applicant aged 62 or more."""
        return not (self.mixed_trees or self.monotone or self.raising_trees)


def _leaf_at(tree: _Tree, age: float) -> int:
    """The leaf an age reaches in a tree that splits on age alone."""
    node = 0
    while tree.left[node] != -1:
        # Age is never missing (the API requires it).
        goes_right = np.float32(age) >= np.float32(tree.thresholds[node])
        node = tree.right[node] if goes_right else tree.left[node]
    return node


def prove_elderly(booster: xgb.Booster) -> ElderlyProof:
    """Check the elderly rule's premises on the trees (the module's docstring)."""
    group = {FEATURE_NAMES.index(name) for name in AGE_GROUP}
    age_trees, mixed, raising = 0, [], []
    for index, tree in enumerate(_trees(booster)):
        used = {tree.features[node] for node in _reachable_splits(tree)}
        if not used & group:
            continue
        age_trees += 1
        if used - group:
            mixed.append(index)
            continue
        leaves = _leaves(tree, 0)
        covers = np.asarray([tree.covers[leaf] for leaf in leaves])
        values = np.asarray([tree.values[leaf] for leaf in leaves])
        mean = float(covers @ values / covers.sum())
        if tree.values[_leaf_at(tree, ELDERLY_AGE)] > mean:
            raising.append(index)
    return ElderlyProof(
        age_trees=age_trees,
        mixed_trees=mixed,
        monotone=monotone_violations(booster, field_senses("age", AGE_DIRECTION)),
        raising_trees=raising,
    )


@dataclass(frozen=True)
class Proofs:
    """Every fair-lending property of a booster, proven on its trees."""

    scored_fields: list[str]
    protected_fields: list[str]
    scored_protected: list[str]
    """Protected fields the trees split on: none, or the model must not serve."""
    directions: dict[str, list[MonotoneViolation]] = field(default_factory=dict)
    """Per field with a declared direction, the nodes that break it (none: proven)."""
    elderly: ElderlyProof | None = None

    def failures(self) -> list[str]:
        """One line per property that does not hold."""
        failed = [f"the trees split on {name}, a protected field" for name in self.scored_protected]
        for name, violations in self.directions.items():
            if violations:
                worst = max(violations, key=lambda v: v.gap)
                failed.append(
                    f"{name}'s direction is not proven: {len(violations)} nodes break it, "
                    f"the worst on {worst.feature} in tree {worst.tree} (gap {worst.gap:.3g})"
                )
        if self.elderly is not None and not self.elderly.holds:
            failed.append(
                "the elderly rule is not proven: "
                f"{len(self.elderly.mixed_trees)} trees mix age with other features, "
                f"{len(self.elderly.monotone)} nodes let risk rise with age, "
                f"{len(self.elderly.raising_trees)} trees give age 62 a positive contribution"
            )
        return failed

    def summary(self) -> FairLendingProofs:
        """What the model's metadata keeps, for its card and ``/model``."""
        return FairLendingProofs(
            scored_fields=self.scored_fields,
            protected_fields=self.protected_fields,
            scored_protected_fields=self.scored_protected,
            directions={
                name: FIELD_DIRECTIONS[name]
                for name, violations in self.directions.items()
                if not violations
            },
            elderly_rule=self.elderly is not None and self.elderly.holds,
            age_read_as=f"min(age, {ELDERLY_AGE})",
        )


def prove(booster: xgb.Booster, protected_fields: tuple[str, ...] | list[str]) -> Proofs:
    """Prove every property of the module's docstring on ``booster``'s trees."""
    scored = scored_fields(booster)
    return Proofs(
        scored_fields=scored,
        protected_fields=list(protected_fields),
        scored_protected=[name for name in protected_fields if name in scored],
        directions={
            name: monotone_violations(booster, field_senses(name, direction))
            for name, direction in FIELD_DIRECTIONS.items()
        },
        elderly=prove_elderly(booster),
    )


def require_proofs(booster: xgb.Booster, protected_fields: tuple[str, ...] | list[str]) -> Proofs:
    """``prove``, raising ``ModelPropertyError`` with every failure when one fails."""
    proofs = prove(booster, protected_fields)
    failures = proofs.failures()
    if failures:
        raise ModelPropertyError(
            "the model fails its fair-lending proofs:\n" + "\n".join(f"- {f}" for f in failures)
        )
    return proofs
