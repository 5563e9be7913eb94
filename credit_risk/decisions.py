"""Turning a default probability and its reasons into the service's decision."""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from credit_risk.policy import DecisionPolicy
from credit_risk.reasons import principal_reasons
from credit_risk.schema import Decision
from credit_risk.vocabulary import NUMERIC_FIELDS


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

    def decide(
        self, encoded: Sequence[float], probability: float, contributions: Sequence[float]
    ) -> Decision:
        """The decision for one application."""
        probability = float(probability)
        return Decision(
            status=self.policy.status(probability),
            default_probability=probability,
            score=self.policy.scorecard.points(probability),
            reasons=principal_reasons(contributions),
            out_of_training_range=self.out_of_training_range(encoded),
            model_tag=self.model_tag,
            policy_version=self.policy.version,
            decision_id=str(uuid.uuid4()),
        )
