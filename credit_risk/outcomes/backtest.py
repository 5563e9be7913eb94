"""The back-test: how the decided risk compares with the outcomes that came in.

Figures, per model tag and overall: realised AUC, Gini and KS with bootstrap
intervals (``stats``); calibration per score band (the expected default rate, the
mean probability, against the realised one with its Jeffreys interval) and the
Hosmer-Lemeshow test; the same by vintage (month of decision); and the default
rate among approved applicants per fairness group (age band, marital status).

What sets the verdict is in ``Thresholds``, named in the report: a model tag's AUC
below ``auc_watch`` / ``auc_act``; a band whose expected rate lies outside its
realised rate's Jeffreys interval at ``band_watch`` / ``band_act`` confidence
(bands of fewer than ``min_band`` outcomes are shown, not judged); a
Hosmer-Lemeshow p-value below ``hl_watch`` (watch only: with many outcomes it
rejects even small, harmless departures). Fairness figures are shown, not judged.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from dataclasses import asdict, dataclass, field
from enum import IntEnum
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from credit_risk.fairness.table import AGE_BANDS
from credit_risk.outcomes.stats import (
    Discrimination,
    HosmerLemeshow,
    discrimination,
    hosmer_lemeshow,
    jeffreys_interval,
)

BAND_EDGES: Final = (0.0, 0.05, 0.10, 0.15, 0.20, 0.25, 0.35, 0.50, 0.70, 1.0)
"""Score bands by default probability (the policy's 0.25 and 0.5 are edges)."""
ALL_MODELS: Final = "all models"


class Verdict(IntEnum):
    """The report's verdict, which is the command's exit code."""

    SOUND = 0
    WATCH = 1
    ACT = 2

    def __str__(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class Thresholds:
    """What makes a figure to watch or to act on (command-line options)."""

    auc_watch: float = 0.70
    """Gini 0.4: below it a scorecard is commonly called weak. Set it from the model's
    own validation AUC (``model.md``) less what the business tolerates."""
    auc_act: float = 0.60
    band_watch: float = 0.99
    band_act: float = 0.999
    min_band: int = 30
    hl_watch: float = 0.01


@dataclass(frozen=True)
class Outcomes:
    """Decisions joined with their outcomes, as columns."""

    probability: npt.NDArray[np.float64]
    defaulted: npt.NDArray[np.bool_]
    score: npt.NDArray[np.float64]
    vintage: npt.NDArray[np.object_]
    model_tag: npt.NDArray[np.object_]
    status: npt.NDArray[np.object_]
    age: npt.NDArray[np.float64]
    marital: npt.NDArray[np.object_]

    @classmethod
    def of(cls, columns: dict[str, Any]) -> Outcomes:
        """From DuckDB's ``fetchnumpy`` of ``join.JOINED``."""
        return cls(
            probability=np.asarray(columns["default_probability"], dtype=np.float64),
            defaulted=np.asarray(columns["defaulted"], dtype=bool),
            score=np.asarray(columns["score"], dtype=np.float64),
            vintage=np.asarray(columns["vintage"], dtype=object),
            model_tag=np.asarray(columns["model_tag"], dtype=object),
            status=np.asarray(columns["status"], dtype=object),
            age=np.asarray(columns["age"], dtype=np.float64),
            marital=np.asarray(columns["marital"], dtype=object),
        )

    def subset(self, mask: npt.NDArray[np.bool_]) -> Outcomes:
        """The outcomes where ``mask`` holds."""
        return Outcomes(**{name: value[mask] for name, value in vars(self).items()})

    @property
    def size(self) -> int:
        """Number of outcomes."""
        return int(self.defaulted.size)


@dataclass(frozen=True)
class BandFigures:
    """Calibration of one score band."""

    label: str
    n: int
    defaults: int
    expected: float
    realised: float
    interval: tuple[float, float]
    """The realised rate's Jeffreys interval at ``band_watch`` confidence."""
    score_range: tuple[int, int] | None
    verdict: Verdict | None
    """``None``: too few outcomes to judge."""


@dataclass(frozen=True)
class Segment:
    """Discrimination and calibration of one set of outcomes (a model, a vintage)."""

    name: str
    discrimination: Discrimination
    expected: float
    realised: float
    bands: tuple[BandFigures, ...]
    hosmer_lemeshow: HosmerLemeshow

    def verdict(self, thresholds: Thresholds) -> Verdict:
        """The worst of the AUC, the bands and the Hosmer-Lemeshow test."""
        return max(
            [_auc_verdict(self.discrimination.auc, thresholds), self.hl_verdict(thresholds)]
            + [band.verdict for band in self.bands if band.verdict is not None]
        )

    def hl_verdict(self, thresholds: Thresholds) -> Verdict:
        """Watch when the Hosmer-Lemeshow p-value is below ``hl_watch``."""
        return (
            Verdict.WATCH if self.hosmer_lemeshow.p_value < thresholds.hl_watch else Verdict.SOUND
        )

    def failing_bands(self) -> list[str]:
        """The bands to watch or act on."""
        return [b.label for b in self.bands if b.verdict not in (None, Verdict.SOUND)]

    def as_dict(self, thresholds: Thresholds) -> dict[str, Any]:
        """JSON-ready figures."""
        return {
            "name": self.name,
            "verdict": str(self.verdict(thresholds)),
            "auc_verdict": str(_auc_verdict(self.discrimination.auc, thresholds)),
            **self.discrimination.as_dict(),
            "expected_rate": self.expected,
            "realised_rate": self.realised,
            "hosmer_lemeshow": self.hosmer_lemeshow.as_dict(),
            "failing_bands": self.failing_bands(),
            "bands": [
                {
                    **asdict(band),
                    "verdict": None if band.verdict is None else str(band.verdict),
                }
                for band in self.bands
            ],
        }


def _auc_verdict(auc: float, thresholds: Thresholds) -> Verdict:
    if not math.isfinite(auc):
        return Verdict.SOUND
    if auc < thresholds.auc_act:
        return Verdict.ACT
    return Verdict.WATCH if auc < thresholds.auc_watch else Verdict.SOUND


def _band(outcomes: Outcomes, low: float, high: float, thresholds: Thresholds) -> BandFigures:
    in_band = (outcomes.probability > low) & (outcomes.probability <= high)
    if low == 0.0:
        in_band |= outcomes.probability == 0.0
    n = int(in_band.sum())
    defaults = int(outcomes.defaulted[in_band].sum())
    expected = float(outcomes.probability[in_band].mean()) if n else math.nan
    verdict = None
    interval = jeffreys_interval(defaults, n, thresholds.band_watch)
    if n >= thresholds.min_band:
        verdict = Verdict.SOUND
        if not interval[0] <= expected <= interval[1]:
            act_low, act_high = jeffreys_interval(defaults, n, thresholds.band_act)
            verdict = Verdict.WATCH if act_low <= expected <= act_high else Verdict.ACT
    scores = outcomes.score[in_band]
    finite = scores[np.isfinite(scores)]
    return BandFigures(
        label=f"{low:.2f}-{high:.2f}",
        n=n,
        defaults=defaults,
        expected=expected,
        realised=defaults / n if n else math.nan,
        interval=interval,
        score_range=(int(finite.min()), int(finite.max())) if finite.size else None,
        verdict=verdict,
    )


def segment(name: str, outcomes: Outcomes, thresholds: Thresholds, *, seed: int = 0) -> Segment:
    """Discrimination and calibration of ``outcomes``."""
    return Segment(
        name=name,
        discrimination=discrimination(outcomes.probability, outcomes.defaulted, seed=seed),
        expected=float(outcomes.probability.mean()) if outcomes.size else math.nan,
        realised=float(outcomes.defaulted.mean()) if outcomes.size else math.nan,
        bands=tuple(
            _band(outcomes, low, high, thresholds) for low, high in itertools.pairwise(BAND_EDGES)
        ),
        hosmer_lemeshow=hosmer_lemeshow(outcomes.probability, outcomes.defaulted),
    )


@dataclass(frozen=True)
class GroupFigures:
    """Default rate among the approved applicants of one fairness group."""

    group: str
    value: str
    decided: int
    approved: int
    defaults: int
    rate: float | None
    interval: tuple[float | None, float | None]


def fairness(outcomes: Outcomes) -> list[GroupFigures]:
    """Per age band and marital status: approved, and their default rate (95% Jeffreys)."""
    groups: list[tuple[str, str, npt.NDArray[np.bool_]]] = [
        ("age", label, (outcomes.age >= low) & (outcomes.age < high))
        for label, low, high in AGE_BANDS
    ]
    groups += [
        ("marital", str(value), outcomes.marital == value)
        for value in sorted({str(v) for v in outcomes.marital})
    ]
    approved = outcomes.status == "APPROVED"
    figures = []
    for group, value, member in groups:
        chosen = member & approved
        n, defaults = int(chosen.sum()), int(outcomes.defaulted[chosen].sum())
        low, high = jeffreys_interval(defaults, n)
        figures.append(
            GroupFigures(
                group=group,
                value=value,
                decided=int(member.sum()),
                approved=n,
                defaults=defaults,
                rate=defaults / n if n else None,
                interval=(None, None) if not n else (low, high),
            )
        )
    return figures


@dataclass(frozen=True)
class BacktestReport:
    """The whole back-test."""

    generated_at: dt.datetime
    thresholds: Thresholds
    overall: Segment
    models: tuple[Segment, ...]
    vintages: tuple[Segment, ...]
    fairness: tuple[GroupFigures, ...]
    counts: dict[str, Any] = field(default_factory=dict)
    """How many records, outcomes, joined, duplicates, unknown ids, conflicts."""

    @property
    def verdict(self) -> Verdict:
        """The worst verdict of any model tag (the overall one if records carry one tag)."""
        return max(m.verdict(self.thresholds) for m in self.models)

    def reasons(self) -> list[str]:
        """What set the verdict, in words."""
        found = []
        for model in self.models:
            auc = _auc_verdict(model.discrimination.auc, self.thresholds)
            if auc is not Verdict.SOUND:
                found.append(f"{model.name}: AUC {model.discrimination.auc:.3f} ({auc})")
            for band in model.bands:
                if band.verdict not in (None, Verdict.SOUND):
                    found.append(
                        f"{model.name}: band {band.label} expected {band.expected:.1%}, "
                        f"realised {band.realised:.1%} ({band.verdict})"
                    )
            if model.hl_verdict(self.thresholds) is not Verdict.SOUND:
                found.append(
                    f"{model.name}: Hosmer-Lemeshow p = {model.hosmer_lemeshow.p_value:.2g} (watch)"
                )
        return found

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready figures, the same as the HTML shows."""
        return {
            "generated_at": self.generated_at.isoformat(),
            "verdict": str(self.verdict),
            "exit_code": int(self.verdict),
            "reasons": self.reasons(),
            "thresholds": asdict(self.thresholds),
            "counts": self.counts,
            "overall": self.overall.as_dict(self.thresholds),
            "models": [m.as_dict(self.thresholds) for m in self.models],
            "vintages": [v.as_dict(self.thresholds) for v in self.vintages],
            "fairness": [asdict(g) for g in self.fairness],
        }


def backtest(outcomes: Outcomes, thresholds: Thresholds, counts: dict[str, Any]) -> BacktestReport:
    """The back-test of decisions joined with their outcomes (at least one)."""
    tags = sorted({str(tag) for tag in outcomes.model_tag})
    vintages = sorted({str(v) for v in outcomes.vintage})
    return BacktestReport(
        generated_at=dt.datetime.now(dt.UTC),
        thresholds=thresholds,
        overall=segment(ALL_MODELS, outcomes, thresholds),
        models=tuple(
            segment(tag, outcomes.subset(outcomes.model_tag == tag), thresholds) for tag in tags
        ),
        vintages=tuple(
            segment(v, outcomes.subset(outcomes.vintage == v), thresholds) for v in vintages
        ),
        fairness=tuple(fairness(outcomes)),
        counts=counts,
    )
