"""The fairness figures of a population of decisions, by age band and marital status.

Age bands follow Regulation B's elderly line (62); marital status is a prohibited
basis the model does not score, so a gap between its groups is a proxy effect worth
seeing. Each group's approval rate is compared with the most favoured group of its
kind (the adverse impact ratio); a ratio under four fifths is flagged, the
screening rule of the US agencies' Uniform Guidelines, for a closer look.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import numpy as np
import numpy.typing as npt

from credit_risk.model.metadata import FairnessTable, GroupFairness
from credit_risk.vocabulary import CATEGORIES

AGE_BANDS: Final[tuple[tuple[str, int, int], ...]] = (
    ("under 25", 0, 25),
    ("25-61", 25, 62),
    ("62+", 62, 1000),
)
"""(label, lowest age, first age above) of each age band."""
FOUR_FIFTHS: Final = 0.8
"""An adverse impact ratio under this is flagged."""
MIN_GROUP: Final = 30
"""Fewer decisions than this: the group is shown, its ratio not judged (a rate over a
handful of decisions says little)."""


def group_masks(
    age: npt.NDArray[np.float64], marital: npt.NDArray[np.object_]
) -> list[tuple[str, str, npt.NDArray[np.bool_]]]:
    """(kind, value, members) of every group: the age bands, then each marital label
    present, in vocabulary order."""
    groups = [("age", label, (age >= low) & (age < high)) for label, low, high in AGE_BANDS]
    present = set(marital.tolist())
    groups += [
        ("marital", label, marital == label) for label in CATEGORIES["marital"] if label in present
    ]
    return groups


def _rate(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def fairness_table(
    population: str,
    *,
    age: Sequence[float] | npt.NDArray[np.float64],
    marital: Sequence[str] | npt.NDArray[np.object_],
    status: Sequence[str] | npt.NDArray[np.object_],
    probability: Sequence[float] | npt.NDArray[np.float64] | None = None,
    defaulted: Sequence[bool] | npt.NDArray[np.bool_] | None = None,
) -> FairnessTable:
    """The figures of each group; default rates and calibration when ``defaulted``
    (with ``probability``) are given."""
    ages = np.asarray(age, dtype=np.float64)
    approved = np.asarray(status, dtype=object) == "APPROVED"
    groups = group_masks(ages, np.asarray(marital, dtype=object))
    rates = {
        (kind, value): _rate(int((members & approved).sum()), int(members.sum()))
        for kind, value, members in groups
    }
    best = {
        kind: max(
            (rates[(k, v)] for k, v, m in groups if k == kind and m.sum() >= MIN_GROUP),
            default=0.0,
        )
        for kind, _, _ in groups
    }
    rows = []
    for kind, value, members in groups:
        n = int(members.sum())
        ratio = rates[(kind, value)] / best[kind] if n >= MIN_GROUP and best[kind] else None
        row = GroupFairness(
            group=kind,
            value=value,
            applications=n,
            approved=int((members & approved).sum()),
            approval_rate=rates[(kind, value)],
            adverse_impact_ratio=ratio,
            below_four_fifths=ratio is not None and ratio < FOUR_FIFTHS,
        )
        if defaulted is not None and probability is not None and n:
            outcome = np.asarray(defaulted, dtype=bool)[members]
            row.default_rate = float(outcome.mean())
            row.mean_predicted = float(np.asarray(probability, dtype=np.float64)[members].mean())
        rows.append(row)
    return FairnessTable(population=population, decisions=len(ages), rows=rows)
