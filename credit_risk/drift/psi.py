"""Population Stability Index against the reference distribution stored with a model.

The reference (``schema.Reference``, stored in ``ModelMetadata`` and built by
``credit_risk.training.evaluation.reference_distribution``) holds, per numeric
field and for the out-of-fold default probability, decile edges with the share of
training rows in each bin and the share missing; per categorical field, the share
of each label. Current values are binned on exactly those bins:

* numeric: the stored edges, the first and last bins open-ended (a value beyond the
  training range still lands somewhere), and missing (``None``/NaN) as its own bin;
* categorical: one bin per label of the vocabulary, plus one for a label the
  vocabulary does not know (expected share 0).

Only numpy at run time: the service imports this module.
"""

from __future__ import annotations

import itertools
import math
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import numpy.typing as npt

from credit_risk.vocabulary import APPLICATION_FIELDS, CATEGORICAL_FIELDS

if TYPE_CHECKING:
    from credit_risk.model.metadata import BinnedField, Reference

EPSILON: Final = 1e-4
"""Floor of a bin's share on either side, so an empty bin adds a large but finite
term instead of an infinite one."""

WATCH_FROM: Final = 0.10
"""PSI from which a distribution is watched (the conventional bands)."""
ACT_ABOVE: Final = 0.25
"""PSI above which a distribution has moved enough to act on."""

SCORE_FIELD: Final = "default_probability"
"""Name of the model's output among the monitored distributions."""

MISSING_LABEL: Final = "missing"
OTHER_LABEL: Final = "(other)"


class Band(StrEnum):
    """The conventional PSI bands; ordered from best to worst."""

    STABLE = "stable"
    WATCH = "watch"
    ACT = "act"

    @property
    def severity(self) -> int:
        """0 stable, 1 watch, 2 act: also the drift report's exit code."""
        return list(Band).index(self)


def band_of(psi: float) -> Band:
    """The band of a PSI value: < 0.10 stable, 0.10 to 0.25 watch, > 0.25 act."""
    if psi < WATCH_FROM:
        return Band.STABLE
    return Band.WATCH if psi <= ACT_ABOVE else Band.ACT


def psi_terms(
    expected_shares: npt.ArrayLike, actual_counts: npt.ArrayLike
) -> npt.NDArray[np.float64]:
    """Each bin's term of the PSI: (actual - expected) * ln(actual / expected).

    Shares below ``EPSILON`` (empty bins) are raised to it on both sides.
    """
    counts = np.asarray(actual_counts, dtype=np.float64)
    total = counts.sum()
    actual = np.maximum(counts / total if total else counts, EPSILON)
    expected = np.maximum(np.asarray(expected_shares, dtype=np.float64), EPSILON)
    return (actual - expected) * np.log(actual / expected)


def population_stability_index(
    expected_shares: npt.ArrayLike, actual_counts: npt.ArrayLike
) -> float:
    """PSI of current counts per bin against the reference shares of the same bins."""
    return float(psi_terms(expected_shares, actual_counts).sum())


def _number(value: float) -> str:
    if value == int(value):
        return str(int(value))
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}"


@dataclass(frozen=True)
class NumericBins:
    """Stored decile edges of a numeric field, plus a bin for missing values (last)."""

    name: str
    edges: tuple[float, ...]
    shares: npt.NDArray[np.float64]
    """Reference share per bin, the missing bin last; they add up to 1."""

    @classmethod
    def from_reference(cls, name: str, binned: BinnedField) -> NumericBins:
        """From one field of the stored reference: ``edges``, ``shares``, ``missing_share``."""
        edges = tuple(binned.edges)
        shares = binned.shares
        if len(edges) != len(shares) + 1 or not shares:
            raise ValueError(f"{name}: {len(edges)} edges for {len(shares)} bins")
        return cls(name, edges, np.asarray([*shares, binned.missing_share]))

    @property
    def labels(self) -> tuple[str, ...]:
        """Readable bin labels; the outer bins are open-ended."""
        inner = self.edges[1:-1]
        if not inner:
            return ("all", MISSING_LABEL)
        middle = [f"{_number(a)} to {_number(b)}" for a, b in itertools.pairwise(inner)]
        return (f"< {_number(inner[0])}", *middle, f"≥ {_number(inner[-1])}", MISSING_LABEL)

    @cached_property
    def _inner(self) -> npt.NDArray[np.float64]:
        return np.asarray(self.edges[1:-1])

    def index(self, value: float | None) -> int:
        """The bin of one value (``None`` or NaN: the missing bin)."""
        if value is None or math.isnan(value):
            return len(self.shares) - 1
        # As numpy.histogram: a value on an inner edge starts the bin above it.
        return bisect_right(self.edges, value, 1, len(self.edges) - 1) - 1

    def indices(self, values: npt.ArrayLike) -> npt.NDArray[np.intp]:
        """The bins of many values, vectorised."""
        column = np.asarray(values, dtype=np.float64)
        found = np.searchsorted(self._inner, column, side="right")
        return np.where(np.isnan(column), len(self.shares) - 1, found)


@dataclass(frozen=True)
class CategoricalBins:
    """Stored label shares of a categorical field, plus a bin for unknown labels (last)."""

    name: str
    categories: tuple[str, ...]
    shares: npt.NDArray[np.float64]

    @classmethod
    def from_reference(cls, name: str, shares: Mapping[str, float]) -> CategoricalBins:
        """From one entry of the stored reference: share per label."""
        categories = tuple(shares)
        return cls(name, categories, np.asarray([*(float(shares[c]) for c in categories), 0.0]))

    @property
    def labels(self) -> tuple[str, ...]:
        """The labels, then the bin of unknown ones."""
        return (*self.categories, OTHER_LABEL)

    @cached_property
    def _positions(self) -> dict[str, int]:
        return {label: i for i, label in enumerate(self.categories)}

    def index(self, value: Any) -> int:
        """The bin of one label (anything not in the vocabulary: the last bin)."""
        return self._positions.get(value, len(self.categories))

    def indices(self, values: Sequence[Any]) -> npt.NDArray[np.intp]:
        """The bins of many labels."""
        positions = self._positions
        other = len(self.categories)
        return np.fromiter(
            (positions.get(v, other) for v in values), dtype=np.intp, count=len(values)
        )


Bins = NumericBins | CategoricalBins


@dataclass(frozen=True)
class ReferenceBins:
    """The bins of the 13 application fields and of the default probability, in that order."""

    fields: tuple[Bins, ...]

    @classmethod
    def from_reference(cls, reference: Reference) -> ReferenceBins:
        """From a model's stored reference (``ModelMetadata.reference``)."""
        fields: list[Bins] = []
        for name in APPLICATION_FIELDS:
            if name in CATEGORICAL_FIELDS:
                fields.append(CategoricalBins.from_reference(name, reference.categorical[name]))
            else:
                fields.append(NumericBins.from_reference(name, reference.numeric[name]))
        fields.append(NumericBins.from_reference(SCORE_FIELD, reference.default_probability))
        return cls(tuple(fields))

    @property
    def names(self) -> tuple[str, ...]:
        """Field names, the default probability last."""
        return tuple(bins.name for bins in self.fields)

    @property
    def sizes(self) -> tuple[int, ...]:
        """Number of bins of each field."""
        return tuple(len(bins.shares) for bins in self.fields)
