"""The decision policy: thresholds on the default probability and the scorecard.

A policy is versioned and stored with the model it was set for, so the service
decides by the policy saved at training time, never by literals of its own.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Final

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, model_validator

from credit_risk.vocabulary import APPLICATION_FIELDS, Status

PROTECTED_FIELDS: Final[tuple[str, ...]] = ("marital",)
"""Application fields no model may score, by default: marital status is a prohibited
basis under the US Equal Credit Opportunity Act (Regulation B, 12 CFR 1002.6(b)(1)),
the strictest widely used rule. The API still takes them and the records keep them:
fairness is measured on them. A policy can name more (``DecisionPolicy``)."""


class Scorecard(BaseModel):
    """Points = offset - factor * ln(odds of default).

    ``base_points`` are given at odds of default of 1:``base_odds``, and every
    ``points_to_double_odds`` fewer points double the odds of default.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_points: float = 600.0
    base_odds: float = Field(default=19.0, gt=0)
    points_to_double_odds: float = Field(default=50.0, gt=0)

    @property
    def factor(self) -> float:
        """Points per unit of log-odds."""
        return self.points_to_double_odds / math.log(2)

    @property
    def offset(self) -> float:
        """Points at odds of default 1:1."""
        return self.base_points - self.factor * math.log(self.base_odds)

    def points(self, default_probability: float) -> int:
        """Scorecard points for a default probability, rounded to whole points."""
        (points,) = self.points_all([default_probability])
        return points

    def points_all(self, default_probabilities: Iterable[float] | npt.ArrayLike) -> list[int]:
        """``points`` of each probability, with the scorecard's constants computed once.

        In numpy: a Python loop took 2.0 s of the 16 s that scoring 300,000 rows took in
        ``score.py`` (cProfile); ``rint`` rounds half to even as ``round`` does.
        """
        values = (
            default_probabilities
            if isinstance(default_probabilities, np.ndarray)
            else list(default_probabilities)  # type: ignore[arg-type]
        )
        probability = np.clip(np.asarray(values, dtype=np.float64), 1e-9, 1 - 1e-9)
        points = np.rint(self.offset - self.factor * np.log(probability / (1 - probability)))
        return points.astype(np.int64).tolist()  # type: ignore[no-any-return]


class DecisionPolicy(BaseModel):
    """Thresholds that turn a default probability into a decision."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str = Field(min_length=1)
    decline_above: float = Field(gt=0, lt=1)
    review_above: float = Field(gt=0, lt=1)
    scorecard: Scorecard = Scorecard()
    protected_fields: tuple[str, ...] = PROTECTED_FIELDS
    """Application fields the model must not score: training hides them from it, the
    trees are checked for them, and serving refuses a model that splits on one
    (``credit_risk.model.audit.proofs``)."""

    @model_validator(mode="after")
    def _ordered(self) -> DecisionPolicy:
        if self.review_above > self.decline_above:
            raise ValueError("review_above must not exceed decline_above")
        unknown = sorted(set(self.protected_fields) - set(APPLICATION_FIELDS))
        if unknown:
            raise ValueError(f"protected_fields names no application field: {unknown}")
        return self

    def statuses(self, default_probabilities: npt.NDArray[np.float64]) -> list[Status]:
        """``status`` of each probability, vectorised (the same comparisons)."""
        probabilities = np.asarray(default_probabilities, dtype=np.float64)
        chosen = np.where(
            probabilities > self.decline_above,
            "DECLINED",
            np.where(probabilities > self.review_above, "MAYBE", "APPROVED"),
        )
        return chosen.tolist()  # type: ignore[no-any-return]

    def status(self, default_probability: float) -> Status:
        """APPROVED, MAYBE (refer to a loan officer) or DECLINED."""
        if default_probability > self.decline_above:
            return "DECLINED"
        if default_probability > self.review_above:
            return "MAYBE"
        return "APPROVED"


COURSE_POLICY: Final = DecisionPolicy(version="course-2024.1", decline_above=0.5, review_above=0.25)
"""The course's thresholds: DECLINED if p > 0.5, MAYBE if p > 0.25, else APPROVED."""
