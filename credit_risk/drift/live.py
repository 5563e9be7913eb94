"""PSI over a rolling window of a worker's recent decisions, as Prometheus gauges.

Each API worker keeps the bin of every monitored value (13 application fields and
the default probability) for its last ``window`` decisions in a ring buffer,
with the count per bin beside it: a decision moves one count per field out (the
decision it replaces) and one in, whatever the window's size; a batch moves them
all at once (numpy). PSI is recomputed
from the counts lazily, at most every ``window // 20`` decisions or once a second,
and only once the window is full (a PSI over a handful of decisions is noise).

Gauges use ``multiprocess_mode="livemax"``: BentoML runs several API workers with
``PROMETHEUS_MULTIPROC_DIR``, each sees only its own share of the traffic (a
keep-alive client stays on one worker), and an alert must fire when any worker's
recent traffic has moved; ``live`` drops a worker's values when it exits, so a
restarted worker's last window does not linger. The unlabelled
``credit_score_psi`` reads 0 until some worker's window is full; the per-field
series appear only then.

Called from the event loop only (the service's endpoints are async): no lock.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, Protocol

import numpy as np
import numpy.typing as npt
from prometheus_client import Gauge

from credit_risk.drift.psi import EPSILON, SCORE_FIELD, ReferenceBins

SMALL_BATCH: Final = 8
"""Up to this many decisions, bins are found in plain Python (a few µs); more, with numpy."""
REFRESH_SECONDS: Final = 1.0
REFRESH_FRACTION: Final = 20
"""PSI is recomputed after ``window // REFRESH_FRACTION`` new decisions at the latest."""

feature_psi = Gauge(
    name="credit_feature_psi",
    documentation="PSI of an application field over the recent decisions of the worst worker.",
    labelnames=["field"],
    multiprocess_mode="livemax",
)
score_psi = Gauge(
    name="credit_score_psi",
    documentation="PSI of the default probability over the recent decisions of the worst worker.",
    multiprocess_mode="livemax",
)
window_decisions = Gauge(
    name="credit_drift_window_decisions",
    documentation="Decisions in the fullest worker's drift window.",
    multiprocess_mode="livemax",
)


class DriftMonitor(Protocol):
    """Something that watches decisions; the service holds one."""

    def observe(
        self, applications: Mapping[str, Sequence[Any]], probabilities: Sequence[float]
    ) -> None:
        """Take note of decided applications (field name to values, ``application_columns``)
        and their default probabilities, in the same order."""
        ...


class Disabled:
    """The monitor while drift monitoring is off, or before the model's reference is known."""

    def observe(
        self, applications: Mapping[str, Sequence[Any]], probabilities: Sequence[float]
    ) -> None:
        """Nothing to do."""


DISABLED: Final = Disabled()


class RollingDrift:
    """Bin counts of the last ``window`` decisions and their PSI against the reference."""

    def __init__(
        self,
        bins: ReferenceBins,
        window: int,
        *,
        refresh_every: int | None = None,
        refresh_seconds: float = REFRESH_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        publish: bool = True,
    ) -> None:
        if window < 1:
            raise ValueError("the window must hold at least one decision")
        self.bins = bins
        self.window = window
        sizes = np.asarray(bins.sizes)
        self._offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.intp)
        expected = np.maximum(np.concatenate([b.shares for b in bins.fields]), EPSILON)
        self._expected = expected
        self._log_expected = np.log(expected)
        # Per application field: attribute name, scalar bin finder, offset of its bins.
        self._finders = [
            (b.name, b.index, int(offset))
            for b, offset in zip(bins.fields[:-1], self._offsets[:-1], strict=True)
        ]
        self._score_bins = bins.fields[-1]
        self._score_offset = int(self._offsets[-1])
        # Row i: the flat bin of every monitored value of a decision; -1 while empty.
        self._ring = np.full((window, len(bins.fields)), -1, dtype=np.intp)
        self._counts = np.zeros(int(sizes.sum()), dtype=np.int64)
        self._filled = 0
        self._next = 0
        self._refresh_every = refresh_every or max(1, window // REFRESH_FRACTION)
        self._refresh_seconds = refresh_seconds
        self._clock = clock
        self._since_refresh = 0
        self._refreshed_at = clock()
        self._publish = publish
        self._gauges: dict[str, Any] = {}

    @classmethod
    def from_reference(cls, reference: Mapping[str, Any], window: int) -> DriftMonitor:
        """A monitor over ``window`` decisions, or ``DISABLED`` when ``window`` is 0."""
        if window == 0:
            return DISABLED
        return cls(ReferenceBins.from_reference(reference), window)

    @property
    def filled(self) -> int:
        """Decisions in the window (``window`` once it is full)."""
        return self._filled

    def observe(
        self, applications: Mapping[str, Sequence[Any]], probabilities: Sequence[float]
    ) -> None:
        """Count decided applications (field name to values, ``application_columns``) and
        their default probabilities, in the same order, into the window."""
        decided = len(probabilities)
        if decided > self.window:
            applications = {name: values[-self.window :] for name, values in applications.items()}
            probabilities = probabilities[-self.window :]
        if len(probabilities) <= SMALL_BATCH:
            for row in self._rows(applications, probabilities):
                self._replace(self._next, row)
                self._next = (self._next + 1) % self.window
        else:
            self._replace_many(self._row_array(applications, probabilities))
        self._filled = min(self._filled + decided, self.window)
        self._since_refresh += decided
        if self._since_refresh >= self._refresh_every or (
            self._clock() - self._refreshed_at >= self._refresh_seconds
        ):
            self._refresh()

    def _replace(self, position: int, row: list[int]) -> None:
        # One decision: its 14 bins are distinct (one per field), so fancy
        # indexing moves each count once.
        replaced = self._ring[position]
        if replaced[0] >= 0:
            self._counts[replaced] -= 1
        self._counts[row] += 1
        self._ring[position] = row

    def _replace_many(self, rows: npt.NDArray[np.intp]) -> None:
        positions = (self._next + np.arange(len(rows))) % self.window
        replaced = self._ring[positions]
        replaced = replaced[replaced[:, 0] >= 0]
        size = len(self._counts)
        self._counts += np.bincount(rows.ravel(), minlength=size)
        self._counts -= np.bincount(replaced.ravel(), minlength=size)
        self._ring[positions] = rows
        self._next = int((self._next + len(rows)) % self.window)

    def _rows(
        self, applications: Mapping[str, Sequence[Any]], probabilities: Sequence[float]
    ) -> list[list[int]]:
        """Flat bin index of every monitored value, one row per decision (plain Python)."""
        score_index, score_offset = self._score_bins.index, self._score_offset
        return [
            [
                *(offset + index(applications[name][row]) for name, index, offset in self._finders),
                score_offset + score_index(probability),
            ]
            for row, probability in enumerate(probabilities)
        ]

    def _row_array(
        self, applications: Mapping[str, Sequence[Any]], probabilities: Sequence[float]
    ) -> npt.NDArray[np.intp]:
        """``_rows`` as an array, vectorised per field."""
        columns = [bins.indices(applications[bins.name]) for bins in self.bins.fields[:-1]]
        columns.append(self._score_bins.indices(probabilities))
        return np.stack(columns, axis=1) + self._offsets

    def psi(self) -> dict[str, float]:
        """PSI per monitored field (the default probability last) over the window now."""
        if self._filled == 0:
            return {}
        actual = np.maximum(self._counts / self._filled, EPSILON)
        terms = (actual - self._expected) * (np.log(actual) - self._log_expected)
        values = np.add.reduceat(terms, self._offsets)
        return dict(zip(self.bins.names, values.tolist(), strict=True))

    def _refresh(self) -> None:
        self._since_refresh = 0
        self._refreshed_at = self._clock()
        if not self._publish:
            return
        window_decisions.set(self._filled)
        if self._filled < self.window:
            return
        for name, value in self.psi().items():
            if name == SCORE_FIELD:
                score_psi.set(value)
                continue
            gauge = self._gauges.get(name)
            if gauge is None:
                gauge = self._gauges[name] = feature_psi.labels(field=name)
            gauge.set(value)
