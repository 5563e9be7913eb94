"""Field directions, proven exactly, row by row, from the trees' split thresholds.

A declared direction (``vocabulary.FIELD_DIRECTIONS``: more income never raises the
risk, past default records never lower it, ...) is a property of every application:
everything else equal, the model's output may move one way only as the field moves.
Monotone constraints on encoded features do not make it so (a field feeds several
derived features, not all constrained), and a constraint flag is no proof.

The argument, for one application and one numeric field ``f`` moving over its
domain (the values the API accepts), everything else fixed:

1. Every encoded feature that ``f`` feeds (``f`` itself and the derived features
   computed from it, ``features.FEATURE_SOURCES``) is a monotone function of ``f``:
   each is a composition of correctly rounded divisions and subtractions with the
   other operand fixed, a clamp and a cast to float32, all monotone. No other
   feature moves.
2. XGBoost decides a node by ``x >= threshold`` on the float32 input (missing: the
   node's default side). With the other features fixed, a node whose path from the
   root needs a decision those features do not take is never reached, whatever
   ``f`` (``splits.reachable``). So the output depends on ``f`` only through each fed
   feature's *state*: how many of the thresholds of its reachable nodes it reaches.
   Along ``f`` each state is monotone (step 1), so each threshold is crossed at most
   once: the output is piecewise constant, changing only where a fed feature
   crosses a threshold of a node it can reach.
3. Between two evaluated values of ``f``, the number of thresholds crossed is the
   summed change of the states (they are monotone). Starting from a grid, every
   interval with two crossings or more is halved (in the order of float64 bit
   patterns, or of integers for an integer field) until each holds at most one, or
   its ends are adjacent numbers with nothing between them. Every constant piece of
   the output then holds an evaluated value: the output is evaluated once per piece
   (XGBoost's own margin, the whole booster), and the sequence of the pieces is the
   output as a function of ``f``, in order. The direction holds for the application
   exactly when that sequence is monotone. Step 1's monotonicity is also checked on
   every evaluated value (``ProofError`` if it ever failed).

A categorical field with a direction (``records``: "no" then "yes") takes two
evaluations. Per field, the audit counts the applications whose output moves
against the direction anywhere in the domain, the largest increase of the default
probability each gets between two values in the wrong order, and those whose
decision worsens (APPROVED to MAYBE or DECLINED, MAYBE to DECLINED) by the stored
policy; and, from the same pieces, the same against each application's own value
(a higher probability at a higher income than the one it declared).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
import xgboost as xgb

from credit_risk.features import FEATURE_NAMES, FEATURE_SOURCES, NUMERIC_FEATURE_INDICES
from credit_risk.model.audit.applications import Applications
from credit_risk.model.audit.splits import MISSING_STATE, booster_nodes, reachable, split_states
from credit_risk.policy import DecisionPolicy
from credit_risk.schema import MAX_MONEY
from credit_risk.vocabulary import FIELD_DIRECTIONS, ORDERED_LABELS

SMALLEST_POSITIVE: Final = float(np.nextafter(0.0, 1.0))
"""The smallest positive float64: where a domain open at 0 starts."""
GRID_POINTS: Final = 64
"""Values evaluated per application before halving (log-spaced over the domain)."""
_GRID_FLOOR: Final = 1e-3
"""Where the log-spaced grid of a continuous domain starting at 0 begins."""
CHUNK_ROWS: Final = 256
"""Applications proven together: bounds the memory of the evaluated values."""
_UNORDERED: Final = np.iinfo(np.int64).max // 4
"""Crossings counted where a fed feature turns missing or back: that has no order,
so the interval is halved down to adjacent numbers."""


class ProofError(RuntimeError):
    """A premise of the proof failed: a fed feature was not monotone in its field."""


@dataclass(frozen=True)
class Domain:
    """The values a numeric field takes, as the API accepts them (both ends included).

    Values are handled by *position*: the integer itself for an integer field, the
    float64's bit pattern otherwise (for values from 0 up, bit patterns are ordered
    as the values, and consecutive patterns are adjacent numbers)."""

    low: float
    high: float
    integer: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.low < self.high:
            raise ValueError(f"a domain runs upwards from 0 or more, not {self}")

    def positions(self, values: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """The positions of values (of 0 or more)."""
        values = np.asarray(values, dtype=np.float64)
        if self.integer:
            return np.floor(values).astype(np.int64)
        return values.view(np.int64)

    def values(self, positions: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        """The values at ``positions``."""
        if self.integer:
            return positions.astype(np.float64)
        return np.asarray(positions, dtype=np.int64).view(np.float64)

    def grid(self, points: int = GRID_POINTS) -> npt.NDArray[np.int64]:
        """Sorted positions to start from: both ends and values in between."""
        if self.integer:
            return np.unique(np.round(np.linspace(self.low, self.high, points)).astype(np.int64))
        start = max(self.low, min(_GRID_FLOOR, self.high / 2))
        values = np.concatenate(
            [[self.low, np.nextafter(self.low, np.inf)], np.geomspace(start, self.high, points)]
        )
        return np.unique(self.positions(np.clip(values, self.low, self.high)))


FIELD_DOMAINS: Final[dict[str, Domain]] = {
    "seniority": Domain(0, 100, integer=True),
    # 0 means "not declared" (missing): a declared income is positive.
    "income": Domain(SMALLEST_POSITIVE, MAX_MONEY),
    "assets": Domain(0.0, MAX_MONEY),
    "amount": Domain(SMALLEST_POSITIVE, MAX_MONEY),
}
"""The domain of each numeric field with a direction, as ``schema.CreditApplication``
accepts it (a test checks both ends and just beyond)."""


@dataclass(frozen=True)
class Counterexample:
    """The worst violation found: one application, two values of the field in the
    declared order, and the default probability at each."""

    row: int
    """The application's index among those audited."""
    riskier_value: float | str
    """The value declared riskier (a lower income, "yes" for records)..."""
    riskier_probability: float
    safer_value: float | str
    """...and the value declared safer, which gets the higher probability."""
    safer_probability: float


@dataclass(frozen=True)
class DirectionAudit:
    """One field's declared direction, checked on every audited application."""

    field: str
    direction: int
    """-1: more never raises the risk; +1: more never lowers it."""
    domain: tuple[float | str, float | str]
    """The values the field moved over (the two labels for a categorical field)."""
    rows: int
    violating: int
    """Applications whose output moves against the direction somewhere in the domain."""
    median_increase: float
    """Median over the violating applications of the largest increase of the default
    probability (0 to 1) between two values in the wrong order; 0 when none."""
    max_increase: float
    worse_decision: int
    """Applications whose decision worsens between two values in the wrong order."""
    own_violating: int
    """Applications that get a higher output at some value safer than their own (a
    higher income, no records), in the domain; a missing own value counts for none."""
    own_median_increase: float
    """Median over those of the largest increase of the default probability over
    their own; 0 when none."""
    own_max_increase: float
    own_worse_decision: int
    """Applications whose decision would be worse at some value safer than their own."""
    pieces: int
    """Constant pieces of the output evaluated, summed over the applications."""
    counterexample: Counterexample | None = None

    @property
    def holds(self) -> bool:
        """The direction holds for every audited application."""
        return self.violating == 0


def status_ranks(policy: DecisionPolicy, probabilities: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """``policy.status`` as a rank per probability: 0 APPROVED, 1 MAYBE, 2 DECLINED."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    return (probabilities > policy.review_above).astype(np.int64) + (
        probabilities > policy.decline_above
    )


def fed_features(field_name: str) -> list[int]:
    """Indices (in ``FEATURE_NAMES``) of the encoded features computed from a field."""
    return [i for i, name in enumerate(FEATURE_NAMES) if field_name in FEATURE_SOURCES[name]]


def probabilities_of(margins: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
    """The default probability of each margin (log-odds)."""
    return 1.0 / (1.0 + np.exp(-np.asarray(margins, dtype=np.float64)))


def margins_of(booster: xgb.Booster, rows: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """XGBoost's margin (log-odds) for encoded rows."""
    if not len(rows):
        return np.zeros(0, dtype=np.float32)
    return np.asarray(booster.inplace_predict(rows, predict_type="margin"), dtype=np.float32)


class _StateReader:
    """The states of the features a field feeds, counting for each application only
    the thresholds of the nodes it can reach."""

    def __init__(self, booster: xgb.Booster, applications: Applications, field_name: str) -> None:
        nodes = booster_nodes(booster)
        fed = fed_features(field_name)
        reach = reachable(nodes, applications.encoded, fed)
        numeric_columns = list(NUMERIC_FEATURE_INDICES)
        self._features: list[tuple[int, npt.NDArray[np.float32], npt.NDArray[np.int32]]] = []
        for feature in fed:
            on_feature = np.flatnonzero(nodes.features == feature)
            if not len(on_feature):
                continue
            thresholds = nodes.thresholds_of(feature)
            relevant = np.zeros((len(applications), len(thresholds)), dtype=bool)
            for node in on_feature:
                relevant[:, np.searchsorted(thresholds, nodes.thresholds[node])] |= reach[node]
            # counted[row, s]: the thresholds among the first s that the row can reach.
            counted = np.zeros((len(applications), len(thresholds) + 1), dtype=np.int32)
            np.cumsum(relevant, axis=1, out=counted[:, 1:])
            self._features.append((numeric_columns.index(feature), thresholds, counted))
        self.booster = booster
        self.applications = applications
        self.field = field_name
        # As the encoding reads it: an income of 0 is not declared.
        self.own_values = np.where(
            np.isnan(applications.encoded[:, FEATURE_NAMES.index(field_name)]),
            np.nan,
            applications.numeric[field_name],
        )
        """Each application's own value of the field, NaN where it declares none."""

    def states(
        self, rows: npt.NDArray[np.intp], values: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.int64]:
        """(points, fed features with splits): application ``rows[i]`` at ``values[i]``."""
        features = self.applications.numeric_features(self.field, rows, values)
        states = np.zeros((len(rows), len(self._features)), dtype=np.int64)
        for column, (feature, thresholds, counted) in enumerate(self._features):
            every = split_states(features[:, feature], thresholds)
            states[:, column] = counted[rows, np.maximum(every, 0)]
            states[every == MISSING_STATE, column] = MISSING_STATE
        return states


def _crossed(left: npt.NDArray[np.int64], right: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Thresholds crossed between two points of the same application (states are
    monotone), or ``_UNORDERED`` where a feature turns missing or back."""
    crossed = np.abs(right - left).sum(axis=1)
    unordered = ((left == MISSING_STATE) != (right == MISSING_STATE)).any(axis=1)
    crossed[unordered] = _UNORDERED
    return crossed


def _check_monotone(
    field_name: str,
    rows: npt.NDArray[np.intp],
    states: npt.NDArray[np.int64],
) -> None:
    """Step 1 of the argument, on every evaluated value: each state moves one way."""
    step = np.diff(states, axis=0)
    ordered = (states[1:] != MISSING_STATE) & (states[:-1] != MISSING_STATE)
    ordered &= (rows[1:] == rows[:-1])[:, np.newaxis]
    for column in range(states.shape[1]):
        up = rows[1:][ordered[:, column] & (step[:, column] > 0)]
        down = rows[1:][ordered[:, column] & (step[:, column] < 0)]
        both = np.intersect1d(up, down)
        if len(both):
            raise ProofError(
                f"a feature fed by {field_name} is not monotone in it (application "
                f"{int(both[0])}): the proof's premise failed"
            )


@dataclass(frozen=True)
class Pieces:
    """The output of applications as a function of one numeric field, piece by
    piece: by application, then ascending value. Each piece spans at least its first
    to its last evaluated value; between two pieces lies exactly one threshold
    crossing, or nothing (adjacent numbers), so every value of the domain is in a
    piece or between two consecutive ones and takes the output of one of them."""

    rows: npt.NDArray[np.intp]
    """The application of each piece (its index among those given)."""
    first: npt.NDArray[np.int64]
    """Each piece's first evaluated value, as a ``Domain`` position."""
    last: npt.NDArray[np.int64]
    """Each piece's last evaluated value, as a ``Domain`` position."""
    values: npt.NDArray[np.float64]
    """Each piece's first evaluated value."""
    margins: npt.NDArray[np.float32]
    """XGBoost's margin (log-odds) on the piece."""


def _start(
    reader: _StateReader, domain: Domain, chunk: npt.NDArray[np.intp]
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.int64]]:
    """The positions to start from, sorted by application then value: the grid, and
    each application's own value with its two neighbours, where it declares one."""
    grid = domain.grid()
    rows = [np.repeat(chunk, len(grid))]
    positions = [np.tile(grid, len(chunk))]
    own = reader.own_values[chunk]
    declared = ~np.isnan(own)
    for shift in (-1, 0, 1):
        rows.append(chunk[declared])
        positions.append(domain.positions(own[declared]) + shift)
    points = np.column_stack([np.concatenate(rows), np.concatenate(positions)])
    low, high = domain.positions(domain.low), domain.positions(domain.high)
    points = np.unique(points[(points[:, 1] >= low) & (points[:, 1] <= high)], axis=0)
    return points[:, 0].astype(np.intp), points[:, 1]


def _pieces(reader: _StateReader, domain: Domain, chunk: npt.NDArray[np.intp]) -> Pieces:
    """The constant pieces of the output for each application of ``chunk`` (margins
    not yet evaluated: zeros)."""
    rows, positions = _start(reader, domain, chunk)
    states = reader.states(rows, domain.values(positions))
    found = [(rows, positions, states)]
    # Pairs of consecutive points of one application, then the halves of those that
    # cross two thresholds or more, until none does.
    left = np.flatnonzero(rows[1:] == rows[:-1])
    pair_rows, low, high = rows[left], positions[left], positions[left + 1]
    low_states, high_states = states[left], states[left + 1]
    while True:
        split = (_crossed(low_states, high_states) >= 2) & (high - low >= 2)
        if not split.any():
            break
        pair_rows, low, high = pair_rows[split], low[split], high[split]
        low_states, high_states = low_states[split], high_states[split]
        middle = low + (high - low) // 2
        middle_states = reader.states(pair_rows, domain.values(middle))
        found.append((pair_rows, middle, middle_states))
        pair_rows = np.concatenate([pair_rows, pair_rows])
        low, high = np.concatenate([low, middle]), np.concatenate([middle, high])
        low_states = np.concatenate([low_states, middle_states])
        high_states = np.concatenate([middle_states, high_states])
    rows, positions, states = (np.concatenate(parts) for parts in zip(*found, strict=True))
    order = np.lexsort((positions, rows))
    rows, positions, states = rows[order], positions[order], states[order]
    _check_monotone(reader.field, rows, states)
    # A piece: a run of consecutive points of one application with the same states.
    first = np.ones(len(rows), dtype=bool)
    first[1:] = (rows[1:] != rows[:-1]) | (_crossed(states[:-1], states[1:]) != 0)
    starts = np.flatnonzero(first)
    ends = np.append(starts[1:], len(rows)) - 1
    return Pieces(
        rows=rows[starts],
        first=positions[starts],
        last=positions[ends],
        values=domain.values(positions[starts]),
        margins=np.zeros(len(starts), dtype=np.float32),
    )


def _chunk_pieces(reader: _StateReader, domain: Domain, chunk: npt.NDArray[np.intp]) -> Pieces:
    pieces = _pieces(reader, domain, chunk)
    moved = reader.applications.with_numeric(reader.field, pieces.rows, pieces.values)
    return dataclasses.replace(pieces, margins=margins_of(reader.booster, moved))


def _chunks(count: int) -> list[npt.NDArray[np.intp]]:
    return [np.arange(b, min(b + CHUNK_ROWS, count)) for b in range(0, count, CHUNK_ROWS)]


def output_pieces(
    booster: xgb.Booster,
    applications: Applications,
    field_name: str,
    domain: Domain | None = None,
) -> Pieces:
    """Every constant piece of each application's output along a numeric field over
    ``domain`` (default ``FIELD_DOMAINS``), everything else equal: the whole function,
    exactly (the module's docstring says why)."""
    domain = domain or FIELD_DOMAINS[field_name]
    reader = _StateReader(booster, applications, field_name)
    parts = [_chunk_pieces(reader, domain, chunk) for chunk in _chunks(len(applications))]
    return Pieces(
        **{
            name: np.concatenate([getattr(part, name) for part in parts])
            if parts
            else np.zeros(0, dtype=dtype)
            for name, dtype in (
                ("rows", np.intp),
                ("first", np.int64),
                ("last", np.int64),
                ("values", np.float64),
                ("margins", np.float32),
            )
        }
    )


@dataclass(frozen=True)
class _RowFigures:
    """Per application: the largest rise against the direction of the margin, the
    probability and the decision rank, between two pieces and against its own."""

    margin_rise: npt.NDArray[np.float64]
    probability_rise: npt.NDArray[np.float64]
    rank_rise: npt.NDArray[np.int64]
    own_margin_rise: npt.NDArray[np.float64]
    own_probability_rise: npt.NDArray[np.float64]
    own_rank_rise: npt.NDArray[np.int64]
    riskier: npt.NDArray[np.intp]
    """Index of the riskier end of the worst probability rise, in the pieces."""
    safer: npt.NDArray[np.intp]

    @staticmethod
    def concatenate(parts: list[_RowFigures], offsets: list[int]) -> _RowFigures:
        """The figures of consecutive chunks, piece indices shifted by ``offsets``."""
        joined = {}
        for name in (field.name for field in dataclasses.fields(_RowFigures)):
            arrays = [getattr(part, name) for part in parts]
            if name in ("riskier", "safer"):
                arrays = [a + o for a, o in zip(arrays, offsets, strict=True)]
            joined[name] = np.concatenate([np.zeros(0, arrays[0].dtype), *arrays])
        return _RowFigures(**joined)


def _rise(
    values: npt.NDArray[np.float64], starts: npt.NDArray[np.intp], riskier_first: bool
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Per application (its pieces from ``starts``, by ascending value of the field):
    the largest rise of ``values`` from a riskier piece to a safer one, and the two
    pieces' indices. ``riskier_first``: the riskier values are the smaller ones."""
    ends = np.append(starts[1:], len(values))
    counts = ends - starts
    local = np.arange(len(values)) - np.repeat(starts, counts)
    if not riskier_first:
        local = np.repeat(counts - 1, counts) - local
    padded = np.full((len(starts), max(int(counts.max(initial=0)), 1)), np.inf)
    padded[np.repeat(np.arange(len(starts)), counts), local] = values
    lowest = np.minimum.accumulate(padded, axis=1)
    rise = np.where(np.isfinite(padded), padded - lowest, -np.inf)
    top = rise.argmax(axis=1)
    bottom = np.where(np.arange(padded.shape[1]) <= top[:, np.newaxis], padded, np.inf).argmin(
        axis=1
    )
    best = np.maximum(rise[np.arange(len(starts)), top], 0.0)

    def piece(column: npt.NDArray[np.intp]) -> npt.NDArray[np.intp]:
        return starts + (column if riskier_first else counts - 1 - column)

    return best, piece(top), piece(bottom)


def _row_figures(
    starts: npt.NDArray[np.intp],
    margins: npt.NDArray[np.float32],
    ranks: npt.NDArray[np.int64],
    safer_than_own: npt.NDArray[np.bool_],
    own: tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]],
    *,
    riskier_first: bool,
) -> _RowFigures:
    """The figures of applications from their pieces (``starts``, ascending values)."""
    margin = margins.astype(np.float64)
    probability = probabilities_of(margins)
    margin_rise, _, _ = _rise(margin, starts, riskier_first)
    probability_rise, safer, riskier = _rise(probability, starts, riskier_first)
    rank_rise, _, _ = _rise(ranks.astype(np.float64), starts, riskier_first)
    own_margin, own_rank = own
    counts = np.diff(np.append(starts, len(margins)))

    def own_rise(values: npt.NDArray, at_own: npt.NDArray) -> npt.NDArray[np.float64]:
        above = np.where(safer_than_own, values - np.repeat(at_own, counts), -np.inf)
        return np.maximum(np.maximum.reduceat(above, starts), 0.0) if len(starts) else above

    return _RowFigures(
        margin_rise=margin_rise,
        probability_rise=probability_rise,
        rank_rise=rank_rise.astype(np.int64),
        own_margin_rise=own_rise(margin, own_margin.astype(np.float64)),
        own_probability_rise=own_rise(probability, probabilities_of(own_margin)),
        own_rank_rise=own_rise(ranks.astype(np.float64), own_rank).astype(np.int64),
        riskier=riskier,
        safer=safer,
    )


def _numeric_figures(
    booster: xgb.Booster,
    applications: Applications,
    field_name: str,
    policy: DecisionPolicy,
    domain: Domain,
) -> tuple[_RowFigures, npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """The figures of a numeric field, and the field's value and the default
    probability at every piece."""
    direction = FIELD_DIRECTIONS[field_name]
    reader = _StateReader(booster, applications, field_name)
    own_margins = margins_of(booster, applications.encoded)
    own_ranks = status_ranks(policy, probabilities_of(own_margins))
    own_values = reader.own_values
    parts: list[_RowFigures] = []
    offsets: list[int] = []
    values: list[npt.NDArray[np.float64]] = []
    probabilities: list[npt.NDArray[np.float64]] = []
    total = 0
    for chunk in _chunks(len(applications)):
        pieces = _chunk_pieces(reader, domain, chunk)
        starts = np.flatnonzero(np.diff(pieces.rows, prepend=-1))
        own = own_values[pieces.rows]
        declared = ~np.isnan(own)
        own_position = domain.positions(np.where(declared, own, 0.0))
        # The own value and its two neighbours were evaluated: a piece holds a value
        # on the safer side of the own one exactly when it holds an evaluated one.
        if direction < 0:  # more is safer
            safer_than_own = declared & (pieces.last > own_position)
        else:  # less is safer
            safer_than_own = declared & (pieces.first < own_position)
        probability = probabilities_of(pieces.margins)
        parts.append(
            _row_figures(
                starts,
                pieces.margins,
                status_ranks(policy, probability),
                safer_than_own,
                (own_margins[chunk], own_ranks[chunk]),
                riskier_first=direction < 0,
            )
        )
        offsets.append(total)
        values.append(pieces.values)
        probabilities.append(probability)
        total += len(pieces.rows)
    return (
        _RowFigures.concatenate(parts, offsets),
        np.concatenate([np.zeros(0), *values]),
        np.concatenate([np.zeros(0), *probabilities]),
    )


def _label_figures(
    booster: xgb.Booster, applications: Applications, field_name: str, policy: DecisionPolicy
) -> tuple[_RowFigures, npt.NDArray[np.object_], npt.NDArray[np.float64]]:
    """The figures of a categorical field (its two ordered labels, riskier first),
    the label and the default probability at each of its two pieces."""
    less, more = ORDERED_LABELS[field_name]
    riskier, safer = (more, less) if FIELD_DIRECTIONS[field_name] > 0 else (less, more)
    margins = np.column_stack(
        [
            margins_of(booster, applications.with_label(field_name, riskier)),
            margins_of(booster, applications.with_label(field_name, safer)),
        ]
    ).reshape(-1)
    ranks = status_ranks(policy, probabilities_of(margins))
    # Against its own label: only an application with the riskier one has a safer one.
    own_riskier = np.repeat(applications.labels[field_name] == riskier, 2)
    own_riskier[0::2] = False
    figures = _row_figures(
        np.arange(0, 2 * len(applications), 2, dtype=np.intp),
        margins,
        ranks,
        own_riskier,
        (margins[0::2], ranks[0::2]),
        riskier_first=True,
    )
    labels = np.asarray([riskier, safer] * len(applications), dtype=object)
    return figures, labels, probabilities_of(margins)


def _plain(value: object) -> float | str:
    """A value of the field as JSON writes it: a float, or a label."""
    return value if isinstance(value, str) else float(value)  # type: ignore[arg-type]


def _median(values: npt.NDArray[np.float64]) -> float:
    return float(np.median(values)) if len(values) else 0.0


def audit_direction(
    booster: xgb.Booster,
    applications: Applications,
    field_name: str,
    policy: DecisionPolicy,
    *,
    domain: Domain | None = None,
) -> DirectionAudit:
    """Prove ``field_name``'s declared direction on every application (the module's
    docstring says how); ``domain`` narrows a numeric field's (``FIELD_DOMAINS``).

    Raises ``ProofError`` if a premise of the proof fails.
    """
    if field_name in ORDERED_LABELS:
        figures, values, probabilities = _label_figures(booster, applications, field_name, policy)
        span: tuple[float | str, float | str] = ORDERED_LABELS[field_name]
    else:
        domain = domain or FIELD_DOMAINS[field_name]
        figures, values, probabilities = _numeric_figures(
            booster, applications, field_name, policy, domain
        )
        span = (domain.low, domain.high)
    violating = figures.margin_rise > 0
    own_violating = figures.own_margin_rise > 0
    increases = figures.probability_rise[violating]
    own_increases = figures.own_probability_rise[own_violating]
    counterexample = None
    if violating.any():
        worst = int(np.flatnonzero(violating)[increases.argmax()])
        riskier, safer = figures.riskier[worst], figures.safer[worst]
        counterexample = Counterexample(
            row=worst,
            riskier_value=_plain(values[riskier]),
            riskier_probability=float(probabilities[riskier]),
            safer_value=_plain(values[safer]),
            safer_probability=float(probabilities[safer]),
        )
    return DirectionAudit(
        field=field_name,
        direction=FIELD_DIRECTIONS[field_name],
        domain=span,
        rows=len(applications),
        violating=int(violating.sum()),
        median_increase=_median(increases),
        max_increase=float(increases.max(initial=0.0)),
        worse_decision=int((figures.rank_rise > 0).sum()),
        own_violating=int(own_violating.sum()),
        own_median_increase=_median(own_increases),
        own_max_increase=float(own_increases.max(initial=0.0)),
        own_worse_decision=int((figures.own_rank_rise > 0).sum()),
        pieces=len(values),
        counterexample=counterexample,
    )
