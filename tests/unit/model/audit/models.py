"""Small boosters on the service's encoding, trained here with a known relation, for the
audit tests: one that violates a property on purpose, one that provably keeps it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd
import xgboost as xgb

from credit_risk.features import FEATURE_NAMES, encode_columns
from credit_risk.model import xgboost_reasons
from credit_risk.policy import COURSE_POLICY, DecisionPolicy

COMPLIANT_CONSTRAINTS: Final[dict[str, int]] = {
    "seniority": -1,
    "seniority_to_age": -1,
    "income": -1,
    "installment_to_income": 1,
    "expenses_to_income": 1,
    "free_income": -1,
    "assets": -1,
    "debt_to_assets": 1,
    "net_assets": -1,
    "amount": 1,
    "loan_to_value": 1,
    "installment": 1,
    "records=yes": 1,
    "records=no": -1,
}
"""A direction for every feature a directed field feeds, each agreeing with its field's
(``income`` lowers ``installment_to_income``, which must then raise the risk): with
these, each declared field direction holds by construction."""

BLIND_TO_PROTECTED_AND_AGE: Final = (
    *(name for name in FEATURE_NAMES if name.startswith("marital=")),
    "age",
    "seniority_to_age",
)
"""Features hidden (missing) in training: a booster that never splits on them."""

BLIND_TO_ZERO_ASSETS_RATIO: Final = "debt_to_assets"
"""Missing at assets 0 (a zero denominator), huge just above: no constraint orders
the two, so the assets direction can fail at 0 whatever the constraints (tested)."""


@dataclass(frozen=True)
class SmallModel:
    """A booster with what the audits need (``report.AuditedModel``)."""

    booster: xgb.Booster
    policy: DecisionPolicy = COURSE_POLICY

    def explain(self, features: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """XGBoost's probabilities and contributions summed to the 13 fields."""
        return xgboost_reasons.explain(self.booster, features, nthread=1)


def small_model(
    frame: pd.DataFrame,
    labels: npt.ArrayLike,
    *,
    blind: Iterable[str] = (),
    constraints: dict[str, int] | None = None,
    rounds: int = 40,
) -> SmallModel:
    """A depth-3 booster on the service's encoding of ``frame``, trained on ``labels``,
    with the ``blind`` features hidden and the ``constraints`` (by feature name)."""
    encoded = encode_columns(frame)
    for name in blind:
        encoded[:, FEATURE_NAMES.index(name)] = np.nan
    params: dict[str, object] = {
        "objective": "binary:logistic",
        "max_depth": 3,
        "eta": 0.3,
        "nthread": 1,
        "seed": 0,
    }
    if constraints:
        params["monotone_constraints"] = (
            "(" + ",".join(str(constraints.get(name, 0)) for name in FEATURE_NAMES) + ")"
        )
    labels = np.asarray(labels, dtype=np.int8)
    booster = xgb.train(params, xgb.DMatrix(encoded, label=labels, nthread=1), rounds)
    return SmallModel(booster)


def defaults(frame: pd.DataFrame) -> npt.NDArray[np.int8]:
    """The data's own labels: 1 where the application defaulted."""
    return (frame["status"] == "default").to_numpy(dtype=np.int8)
