"""Turning a default probability and its reasons into the service's decision."""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from credit_risk.policy import DecisionPolicy
from credit_risk.reasons import FIELD_REASONS, MAX_REASONS, principal_reason_columns
from credit_risk.schema import Decision, Reason
from credit_risk.vocabulary import NUMERIC_FIELDS


@dataclass(frozen=True)
class DecisionColumns:
    """The decisions of many rows as columns: what ``DecisionMaker.decide`` gives per row."""

    status: list[str]
    default_probability: npt.NDArray[np.float64]
    score: list[int]
    reason_fields: npt.NDArray[np.intp]
    """(n, 4) indices into ``APPLICATION_FIELDS``, meaningful where ``has_reason``."""
    has_reason: npt.NDArray[np.bool_]
    contributions: npt.NDArray[np.float64]
    """(n, 4) rounded contributions of the reasons, meaningful where ``has_reason``."""
    outside_training: npt.NDArray[np.bool_]
    """(n, ``NUMERIC_FIELDS``) which numeric fields are outside the training range."""
    decision_id: list[str]
    model_tag: str
    policy_version: str

    # The per-row Python lists below are what the JSON answers need; a batch job reads
    # the arrays above instead, and never pays for them (docs/batch.md, the profile).
    @cached_property
    def reason_contributions(self) -> list[list[float | None]]:
        """Four columns of rounded contributions, ``None`` where a row has fewer reasons."""
        # One object array, then lists: a comprehension per value cost 2 µs a row.
        rounded: list[list[float | None]] = np.where(
            self.has_reason, self.contributions, None
        ).T.tolist()
        return rounded

    @cached_property
    def out_of_training_range(self) -> list[list[str]]:
        """Per row, the numeric fields outside the training range, in field order."""
        flagged: list[list[str]] = [[] for _ in range(len(self.outside_training))]
        for row, column in zip(*np.nonzero(self.outside_training), strict=True):
            flagged[row].append(NUMERIC_FIELDS[column])
        return flagged

    def answers(self) -> list[dict[str, Any]]:
        """Each decision in its JSON form: the fields, order and values of
        ``Decision.model_dump()``, as the API answers and records it.

        Plain dicts, serialised by pydantic-core: building ``Decision`` objects
        cost 9 µs a decision, five times the whole decision (measured).
        """
        reasons: list[list[dict[str, Any]]] = [[] for _ in self.status]
        for rank in range(MAX_REASONS):
            fields = self.reason_fields[:, rank].tolist()
            for row, contribution in enumerate(self.reason_contributions[rank]):
                if contribution is not None:
                    reasons[row].append(
                        {**FIELD_REASONS[fields[row]], "contribution": contribution}
                    )
        model_tag, policy_version = self.model_tag, self.policy_version
        return [
            {
                "status": status,
                "default_probability": probability,
                "score": score,
                "reasons": reasons[row],
                "out_of_training_range": self.out_of_training_range[row],
                "model_tag": model_tag,
                "policy_version": policy_version,
                "decision_id": decision_id,
            }
            for row, (status, probability, score, decision_id) in enumerate(
                zip(
                    self.status,
                    self.default_probability.tolist(),
                    self.score,
                    self.decision_id,
                    strict=True,
                )
            )
        ]

    def decisions(self) -> list[Decision]:
        """The same decisions as ``Decision`` objects (built unvalidated: they come
        from the policy, not from a client)."""
        return [
            Decision.model_construct(
                **{
                    **answer,
                    "reasons": [Reason.model_construct(**reason) for reason in answer["reasons"]],
                }
            )
            for answer in self.answers()
        ]


SMALL_COUNT: Final = 32
"""Below this many, ``uuid.uuid4`` is faster than generating the UUIDs in numpy."""


def uuid4_strings(count: int) -> list[str]:
    """``count`` random UUIDs (version 4) as strings, ~12x faster than ``uuid.uuid4``
    for a batch of 1,000 (and ``uuid.uuid4`` itself for a few)."""
    if count < SMALL_COUNT:
        return [str(uuid.uuid4()) for _ in range(count)]
    raw = np.frombuffer(os.urandom(16 * count), dtype=np.uint8).reshape(count, 16).copy()
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40  # version 4
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80  # RFC 4122 variant
    text = np.frombuffer(raw.tobytes().hex().encode(), dtype=np.uint8).reshape(count, 32)
    dash = np.full((count, 1), ord("-"), dtype=np.uint8)
    parts = (text[:, :8], dash, text[:, 8:12], dash, text[:, 12:16], dash, text[:, 16:20], dash)
    joined = np.concatenate([*parts, text[:, 20:]], axis=1)
    return joined.view("S36").ravel().astype(str).tolist()


def round_contributions(contributions: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
    """``round(value, 4)`` of every float32 contribution, as float64, vectorised.

    numpy rounds as ``rint(x * 10**4) / 10**4``; for a float32 ``x`` the product is
    exact in float64 (24 + 14 bits), so this is Python's correctly rounded ``round``,
    ties to even included (``tests/unit/test_decisions.py`` checks it), at a fifth of its cost.
    """
    return np.round(np.asarray(contributions, dtype=np.float32).astype(np.float64), 4)


@dataclass(frozen=True)
class DecisionMaker:
    """Decides by the stored policy of one model, and flags inputs it never learned from."""

    model_tag: str
    policy: DecisionPolicy
    training_ranges: dict[str, list[float]]

    @cached_property
    def _numeric_ranges(self) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        low, high = (
            np.array([self.training_ranges[name][end] for name in NUMERIC_FIELDS]) for end in (0, 1)
        )
        return low, high

    def decide(
        self, encoded: Sequence[float], probability: float, contributions: Sequence[float]
    ) -> Decision:
        """The decision for one application (its probability and contributions as
        ``ServedModel.explain`` gives them: float32 values)."""
        scored = np.asarray([[probability, *contributions]], dtype=np.float32)
        (decision,) = self.decide_all(np.asarray([encoded], dtype=np.float32), scored)
        return decision

    def decide_all(
        self, encoded: npt.NDArray[np.floating], scored: npt.NDArray[np.floating]
    ) -> list[Decision]:
        """The decisions for encoded applications and their ``ServedModel.explain`` rows
        (probability, then the 13 fields' contributions), in order: what the API answers."""
        return self.decide_columns(encoded, scored).decisions()

    def decide_columns(
        self,
        encoded: npt.NDArray[np.float32],
        scored: npt.NDArray[np.float32],
        decision_ids: list[str] | None = None,
    ) -> DecisionColumns:
        """``decide`` for many rows: encoded features (n, features) and ``explain``'s
        output (n, 14) in. Status and score come from the stored policy; decision ids
        are ``decision_ids`` if given (a batch run's), else random."""
        probabilities = scored[:, 0].astype(np.float64)
        fields, has_reason = principal_reason_columns(scored[:, 1:])
        contributions = round_contributions(np.take_along_axis(scored[:, 1:], fields, axis=-1))
        low, high = self._numeric_ranges
        numeric = encoded[:, : len(NUMERIC_FIELDS)]
        # NaN (missing) compares False either way: never out of range.
        outside = (numeric < low) | (numeric > high)
        return DecisionColumns(
            status=self.policy.statuses(probabilities),
            default_probability=probabilities,
            score=self.policy.scorecard.points_all(probabilities),
            reason_fields=fields,
            has_reason=has_reason,
            contributions=contributions,
            outside_training=outside,
            decision_id=(decision_ids if decision_ids is not None else uuid4_strings(len(encoded))),
            model_tag=self.model_tag,
            policy_version=self.policy.version,
        )
