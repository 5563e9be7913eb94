"""The promotion gate: promote the challenger or not, with the evidence.

Both models score the same held-out rows. The gate promotes only when the challenger is
not worse: the 95% bootstrap interval of its AUC minus the champion's (paired: the same
resampled rows for both) lies above ``-AUC_MARGIN``; its calibration is within
``CALIBRATION_MARGIN`` of the champion's (Brier score and the gap between mean predicted
and observed default rate); and it passes every fair-lending audit
(``credit_risk.model.audit``: no protected field among the reasons, the elderly rule,
the proven field directions) and the proofs on its trees
(``credit_risk.model.audit.proofs``): with ``FAIR_LENDING_STRICT`` (the default), every
property must hold; without (for models trained before the proofs), the challenger may
fail no property on more applications than the champion does. The swap set from shadow
traffic, when there is one, is part of the evidence, for the reviewer: it informs, it
does not decide.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import numpy.typing as npt

AUC_MARGIN: Final = 0.01
"""How much lower than the champion's the challenger's AUC may be, at the interval's low end."""
CALIBRATION_MARGIN: Final = 0.01
"""How much worse the challenger's Brier score, and its calibration-in-the-large, may be."""
FAIR_LENDING_STRICT: Final = True
"""True: a challenger failing any fair-lending property (proof or audit) is refused.
False: one failing a property on more applications than the champion is (no
regression), for models trained before the proofs; every failure of both is in the
evidence either way."""
BOOTSTRAP_RESAMPLES: Final = 2000
CONFIDENCE: Final = 0.95


def auc(labels: npt.NDArray[np.int64], scores: npt.NDArray[np.float64]) -> float:
    """The area under the ROC curve (Mann-Whitney, ties counted half)."""
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores), dtype=np.float64)
    sorted_scores = scores[order]
    # Average ranks of ties, as the Mann-Whitney statistic needs.
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    average = first + (counts - 1) / 2.0 + 1
    ranks[order] = np.repeat(average, counts)
    positives = int(labels.sum())
    negatives = len(labels) - positives
    if positives == 0 or negatives == 0:
        return float("nan")
    return float(
        (ranks[labels == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives)
    )


@dataclass(frozen=True)
class PairedAuc:
    """Both AUCs on the same rows, and the bootstrap interval of their difference."""

    champion: float
    challenger: float
    difference_low: float
    difference_high: float
    resamples: int

    @property
    def difference(self) -> float:
        """The challenger's AUC minus the champion's."""
        return self.challenger - self.champion


def paired_auc(
    labels: npt.NDArray[np.int64],
    champion: npt.NDArray[np.float64],
    challenger: npt.NDArray[np.float64],
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = 0,
) -> PairedAuc:
    """Both AUCs, and the percentile bootstrap interval of their difference, each
    resample drawing the same rows for both models (a paired test)."""
    generator = np.random.default_rng(seed)
    differences = []
    for _ in range(resamples):
        rows = generator.integers(0, len(labels), len(labels))
        drawn = labels[rows]
        if 0 < drawn.sum() < len(drawn):
            differences.append(auc(drawn, challenger[rows]) - auc(drawn, champion[rows]))
    tail = (1 - CONFIDENCE) / 2
    low, high = np.quantile(differences, [tail, 1 - tail])
    return PairedAuc(
        champion=auc(labels, champion),
        challenger=auc(labels, challenger),
        difference_low=float(low),
        difference_high=float(high),
        resamples=len(differences),
    )


@dataclass(frozen=True)
class Calibration:
    """A model's calibration on the held-out rows."""

    brier: float
    mean_predicted: float
    observed_rate: float

    @property
    def in_the_large(self) -> float:
        """Mean predicted minus observed default rate, in absolute value."""
        return abs(self.mean_predicted - self.observed_rate)

    @classmethod
    def of(cls, labels: npt.NDArray[np.int64], scores: npt.NDArray[np.float64]) -> Calibration:
        """The calibration of ``scores`` against ``labels``."""
        return cls(
            brier=float(np.mean((scores - labels) ** 2)),
            mean_predicted=float(scores.mean()),
            observed_rate=float(labels.mean()),
        )


@dataclass(frozen=True)
class FairLending:
    """A model's fair-lending audits on the held-out rows."""

    failures: list[str]
    """One line per property that fails (empty: all hold)."""
    violations: dict[str, int]
    """Per property: the applications on which it fails (0: it holds)."""


@dataclass
class GateReport:
    """The gate's evidence and its verdict."""

    champion: str
    challenger: str
    rows: int
    rows_source: str
    auc: PairedAuc
    calibration: dict[str, Calibration]
    fair_lending: dict[str, FairLending]
    """Per model (``champion``, ``challenger``): its fair-lending audits."""
    swap_set: dict[str, Any] | None = None
    reasons: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        """Why the challenger is refused, if it is."""
        if self.auc.difference_low < -AUC_MARGIN:
            self.reasons.append(
                f"AUC: the challenger may be worse by more than {AUC_MARGIN} (95% interval of "
                f"the difference {self.auc.difference_low:+.4f} to {self.auc.difference_high:+.4f})"
            )
        champion, challenger = self.calibration["champion"], self.calibration["challenger"]
        if challenger.brier > champion.brier + CALIBRATION_MARGIN:
            self.reasons.append(
                f"calibration: Brier score {challenger.brier:.4f} against {champion.brier:.4f}"
            )
        if challenger.in_the_large > champion.in_the_large + CALIBRATION_MARGIN:
            self.reasons.append(
                f"calibration: mean predicted {challenger.mean_predicted:.3f} against an "
                f"observed {challenger.observed_rate:.3f}"
            )
        mine, theirs = self.fair_lending["challenger"], self.fair_lending["champion"]
        if FAIR_LENDING_STRICT:
            self.reasons.extend(f"fair lending: {line}" for line in mine.failures)
        else:
            self.reasons.extend(
                f"fair lending: {name} fails for {count} applications, against "
                f"{theirs.violations.get(name, 0)} for the champion"
                for name, count in mine.violations.items()
                if count > theirs.violations.get(name, 0)
            )

    @property
    def promote(self) -> bool:
        """Whether the gate promotes the challenger."""
        return not self.reasons

    def as_dict(self) -> dict[str, Any]:
        """The JSON form: every figure, the verdict and its reasons."""
        return {
            "champion": self.champion,
            "challenger": self.challenger,
            "verdict": "promote" if self.promote else "refuse",
            "reasons": self.reasons,
            "rows": self.rows,
            "rows_source": self.rows_source,
            "auc": {
                "champion": self.auc.champion,
                "challenger": self.auc.challenger,
                "difference": self.auc.difference,
                "difference_95_interval": [self.auc.difference_low, self.auc.difference_high],
                "test": f"paired percentile bootstrap, {self.auc.resamples} resamples",
                "margin": AUC_MARGIN,
            },
            "calibration": {
                name: {
                    "brier": c.brier,
                    "mean_predicted": c.mean_predicted,
                    "observed_rate": c.observed_rate,
                }
                for name, c in self.calibration.items()
            },
            "fair_lending": {
                "rule": "strict" if FAIR_LENDING_STRICT else "no regression",
                **{
                    name: {
                        "passed": not audit.failures,
                        "failures": audit.failures,
                        "violations": audit.violations,
                    }
                    for name, audit in self.fair_lending.items()
                },
            },
            "swap_set": self.swap_set,
        }
