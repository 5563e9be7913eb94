"""Small boosters on the service's encoding, trained here with a known relation, for the
audit and proof tests: one built as the default recipe builds the served model (marital
hidden, every directed feature constrained, age alone in its group), and ones with one
of those safeguards turned off on purpose, which the audits and the proofs must catch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd
import xgboost as xgb

from credit_risk.features import AGE_GROUP, FEATURE_NAMES, MONOTONE_CONSTRAINTS
from credit_risk.model import xgboost_reasons
from credit_risk.policy import COURSE_POLICY, PROTECTED_FIELDS, DecisionPolicy
from credit_risk.training.recipes import (
    Recipe,
    feature_matrix,
    interaction_constraints,
    monotone_constraints,
)

SMALL_PARAMS: Final[dict[str, Any]] = {
    "objective": "binary:logistic",
    "max_depth": 3,
    "eta": 0.3,
    "nthread": 1,
    "seed": 0,
}
"""A few quick, deep enough trees: what the small models share."""

SMALL_ROUNDS: Final = 40


@dataclass(frozen=True)
class Safeguards:
    """What the default recipe does to keep the fair-lending properties; each one can be
    turned off to train a model that breaks the property on purpose."""

    hidden: tuple[str, ...] = PROTECTED_FIELDS
    """Fields whose features are constant 0 in training (``Recipe.unscored_fields``)."""
    constraints: dict[str, int] | None = None
    """Monotone constraints by feature name; None: ``features.MONOTONE_CONSTRAINTS``."""
    age_alone: bool = True
    """Age in an interaction group of its own (``features.AGE_GROUP``)."""

    def recipe(self) -> Recipe:
        """The small recipe with these safeguards."""
        constraints = MONOTONE_CONSTRAINTS if self.constraints is None else self.constraints
        params = {**SMALL_PARAMS, "monotone_constraints": monotone_constraints(constraints)}
        if self.age_alone:
            params["interaction_constraints"] = interaction_constraints(AGE_GROUP)
        return Recipe(params=params, rounds=SMALL_ROUNDS, unscored_fields=self.hidden)


COMPLIANT: Final = Safeguards()
"""Every safeguard on, with the real tables: what the served model is trained with."""
MARITAL_SCORED: Final = Safeguards(hidden=())
"""Marital status not hidden."""
AGE_FREE: Final = Safeguards(
    constraints={k: v for k, v in MONOTONE_CONSTRAINTS.items() if k != "age"}, age_alone=False
)
"""Age neither constrained nor alone in its group."""
AGE_UNCONSTRAINED: Final = Safeguards(
    constraints={k: v for k, v in MONOTONE_CONSTRAINTS.items() if k != "age"}
)
"""Age alone in its group, but free to raise the risk."""
AGE_MIXED: Final = Safeguards(age_alone=False)
"""Age constrained, but in the same trees as every other feature."""
UNCONSTRAINED: Final = Safeguards(constraints={})
"""No monotone constraint at all."""


@dataclass(frozen=True)
class SmallModel:
    """A booster with what the audits need (``report.AuditedModel``)."""

    booster: xgb.Booster
    policy: DecisionPolicy = COURSE_POLICY

    def explain(self, features: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """XGBoost's probabilities and contributions summed to the 13 fields."""
        return xgboost_reasons.explain(self.booster, features, nthread=1)


def small_model(
    frame: pd.DataFrame, labels: npt.ArrayLike, safeguards: Safeguards = COMPLIANT
) -> SmallModel:
    """A depth-3 booster on the service's training matrix of ``frame`` (as
    ``recipes.feature_matrix`` makes it), trained on ``labels`` with ``safeguards``."""
    recipe = safeguards.recipe()
    matrix = xgb.DMatrix(
        feature_matrix(frame, recipe),
        label=np.asarray(labels, dtype=np.int8),
        feature_names=list(FEATURE_NAMES),
        nthread=1,
    )
    booster = xgb.train(recipe.params, matrix, recipe.rounds)
    # Unnamed, as the service holds it: the audits pass plain matrices.
    booster.feature_names = None
    return SmallModel(booster)


def defaults(frame: pd.DataFrame) -> npt.NDArray[np.int8]:
    """The data's own labels: 1 where the application defaulted."""
    return (frame["status"] == "default").to_numpy(dtype=np.int8)


def against_direction(frame: pd.DataFrame, field: str) -> npt.NDArray[np.int8]:
    """Labels that make ``field`` move the risk against its declared direction: the
    more seniority, income or assets, the more defaults; the larger loans repaid; no
    records defaulting and past records repaid."""
    if field == "records":
        return (frame["records"] == "no").to_numpy(dtype=np.int8)
    values = frame[field].fillna(0).to_numpy(dtype=np.float64)
    above = values > np.median(values)
    return (~above if field == "amount" else above).astype(np.int8)


def older_default(frame: pd.DataFrame) -> npt.NDArray[np.int8]:
    """Labels where age from 55 defaults (on purpose), beside the data's defaults."""
    return ((frame["age"] >= 55).to_numpy() | defaults(frame).astype(bool)).astype(np.int8)


def single_default(frame: pd.DataFrame) -> npt.NDArray[np.int8]:
    """Labels where single applicants default (on purpose), whatever else they declare."""
    return (frame["marital"] == "single").to_numpy(dtype=np.int8)
