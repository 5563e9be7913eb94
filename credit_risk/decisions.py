"""Turning a default probability and its reasons into the service's decision."""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
from pydantic import TypeAdapter

from credit_risk.policy import DecisionPolicy
from credit_risk.reasons import principal_reason_fields
from credit_risk.schema import Decision
from credit_risk.vocabulary import NUMERIC_FIELDS

_DECISIONS: Final = TypeAdapter(list[Decision])
"""Validates a batch of decisions in one call: cheaper than one model at a time."""


@dataclass(frozen=True)
class DecisionMaker:
    """Decides by the stored policy of one model, and flags inputs it never learned from."""

    model_tag: str
    policy: DecisionPolicy
    training_ranges: dict[str, list[float]]

    def out_of_training_range(self, encoded: Sequence[float]) -> list[str]:
        """Numeric fields outside the span seen in training.

        ``encoded`` is the application's feature vector, in ``FEATURE_NAMES`` order.
        """
        flagged = []
        for name, value in zip(NUMERIC_FIELDS, encoded, strict=False):
            low, high = self.training_ranges[name]
            if not math.isnan(value) and not low <= value <= high:
                flagged.append(name)
        return flagged

    def decide_all(
        self, features: npt.NDArray[np.floating], scored: npt.NDArray[np.floating]
    ) -> list[Decision]:
        """The decisions for encoded applications and their ``ServedModel.explain`` rows
        (probability, then the 13 fields' contributions), in order."""
        scored_rows = scored.tolist()
        probabilities = [row[0] for row in scored_rows]
        rows = zip(
            features.tolist(),
            scored_rows,
            self.policy.scorecard.points_all(probabilities),
            strict=True,
        )
        return _DECISIONS.validate_python(
            [
                {
                    "status": self.policy.status(result[0]),
                    "default_probability": result[0],
                    "score": score,
                    "reasons": principal_reason_fields(result[1:]),
                    "out_of_training_range": self.out_of_training_range(encoded),
                    "model_tag": self.model_tag,
                    "policy_version": self.policy.version,
                    "decision_id": str(uuid.uuid4()),
                }
                for encoded, result, score in rows
            ]
        )

    def decide(
        self, encoded: Sequence[float], probability: float, contributions: Sequence[float]
    ) -> Decision:
        """The decision for one application."""
        scored = np.asarray([[probability, *contributions]], dtype=np.float64)
        (decision,) = self.decide_all(np.asarray([encoded], dtype=np.float64), scored)
        return decision
