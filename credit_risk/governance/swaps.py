"""The swap set: champion against challenger on the same decisions, from their records.

From records that carry a ``challenger`` field (shadow scoring): the 3 x 3 table of the
champion's status by the challenger's, approval rates of each, the score shift, the
swap-in set (the challenger would approve, the champion does not) and the swap-out set
(the reverse) described field by field against all decisions, and, where outcomes are
known, the default rate in each cell.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, Final, get_args

from credit_risk.vocabulary import APPLICATION_FIELDS, NUMERIC_FIELDS, Status

STATUSES: Final[tuple[str, ...]] = get_args(Status)
"""APPROVED, MAYBE, DECLINED: the vocabulary's order, least risk first."""
STATUS_APPROVED: Final = STATUSES[0]
WATCH_FROM: Final = 0.05
"""A swap share (swap-in plus swap-out, of all decisions) from which to look closer."""
ACT_ABOVE: Final = 0.15
"""A swap share above which the challenger is a different lending policy, not a refinement."""


class Verdict(IntEnum):
    """The report's exit code: how much the challenger would change who is approved."""

    SMALL = 0
    WATCH = 1
    LARGE = 2


def has_shadow(record: Mapping[str, Any]) -> bool:
    """Whether a record holds a challenger's scored status (not a failure) and its own."""
    challenger = record.get("challenger")
    return (
        isinstance(challenger, dict)
        and challenger.get("status") in STATUSES
        and isinstance(challenger.get("score"), int)
        and record.get("status") in STATUSES
        and isinstance(record.get("score"), int)
        and isinstance(record.get("application"), dict)
    )


@dataclass(frozen=True)
class FieldMove:
    """One application field: what the swap-in and swap-out sets look like against all."""

    name: str
    kind: str
    """``numeric`` (medians) or ``category`` (the most over-represented value's shares)."""
    everyone: str
    swap_in: str
    swap_out: str

    def as_dict(self) -> dict[str, str]:
        """The JSON form."""
        return {
            "field": self.name,
            "kind": self.kind,
            "all": self.everyone,
            "swap_in": self.swap_in,
            "swap_out": self.swap_out,
        }


@dataclass
class SwapReport:
    """The swap-set figures of one champion and one challenger."""

    champion: str
    challenger: str
    decisions: int
    cells: dict[str, dict[str, int]]
    """``cells[champion_status][challenger_status]``: decisions."""
    score_shifts: list[int] = field(repr=False)
    """Per decision: the challenger's score minus the champion's."""
    fields: list[FieldMove]
    defaults: dict[str, dict[str, tuple[int, int]]]
    """Per cell: (outcomes known, defaults among them)."""
    first_time: str | None = None
    last_time: str | None = None
    skipped: int = 0
    """Records without a scored challenger (none configured, or it failed)."""

    def share(self, champion: str, challenger: str) -> float:
        """A cell's share of all decisions."""
        return self.cells[champion][challenger] / self.decisions

    @property
    def approval_rates(self) -> tuple[float, float]:
        """The champion's approval rate and the challenger's."""
        champion = sum(self.cells[STATUS_APPROVED].values()) / self.decisions
        challenger = sum(row[STATUS_APPROVED] for row in self.cells.values()) / self.decisions
        return champion, challenger

    @property
    def swap_in(self) -> int:
        """Decisions the challenger would approve that the champion does not."""
        return sum(self.cells[s][STATUS_APPROVED] for s in STATUSES if s != STATUS_APPROVED)

    @property
    def swap_out(self) -> int:
        """Decisions the champion approves that the challenger would not."""
        return sum(self.cells[STATUS_APPROVED][s] for s in STATUSES if s != STATUS_APPROVED)

    @property
    def verdict(self) -> Verdict:
        """SMALL, WATCH or LARGE by the share of decisions swapped in or out."""
        swapped = (self.swap_in + self.swap_out) / self.decisions
        if swapped > ACT_ABOVE:
            return Verdict.LARGE
        return Verdict.WATCH if swapped >= WATCH_FROM else Verdict.SMALL

    def as_dict(self) -> dict[str, Any]:
        """The JSON form of every figure."""
        champion_rate, challenger_rate = self.approval_rates
        shifts = self.score_shifts
        return {
            "champion": self.champion,
            "challenger": self.challenger,
            "decisions": self.decisions,
            "period": {"first": self.first_time, "last": self.last_time},
            "skipped_without_challenger": self.skipped,
            "cells": [
                {
                    "champion": a,
                    "challenger": b,
                    "count": self.cells[a][b],
                    "share": self.share(a, b),
                    "outcomes_known": self.defaults[a][b][0],
                    "default_rate": _rate(*self.defaults[a][b]),
                }
                for a in STATUSES
                for b in STATUSES
            ],
            "approval_rate": {"champion": champion_rate, "challenger": challenger_rate},
            "score_shift": {
                "mean": statistics.fmean(shifts),
                "median": statistics.median(shifts),
                "changed": sum(1 for s in shifts if s != 0) / len(shifts),
            },
            "swap_in": self.swap_in,
            "swap_out": self.swap_out,
            "fields": [move.as_dict() for move in self.fields],
            "verdict": self.verdict.name.lower(),
        }


def _rate(known: int, defaults: int) -> float | None:
    return defaults / known if known else None


def _median(values: list[float]) -> str:
    return f"{statistics.median(values):g}" if values else "n/a"


def _top_category(values: list[Any], among: list[Any]) -> str:
    """The value most over-represented in ``values`` against ``among``, with both shares."""
    if not values:
        return "n/a"
    mine, theirs = Counter(values), Counter(among)
    best = max(mine, key=lambda v: mine[v] / len(values) - theirs[v] / len(among))
    return f"{best} {mine[best] / len(values):.0%}"


def field_moves(
    everyone: list[Mapping[str, Any]],
    swapped_in: list[Mapping[str, Any]],
    swapped_out: list[Mapping[str, Any]],
) -> list[FieldMove]:
    """Each application field across all decisions, the swap-in and the swap-out sets."""
    moves = []
    for name in APPLICATION_FIELDS:
        if name in NUMERIC_FIELDS:

            def numbers(rows: list[Mapping[str, Any]], name: str = name) -> list[float]:
                return [float(r[name]) for r in rows if r.get(name) is not None]

            moves.append(
                FieldMove(
                    name,
                    "numeric",
                    _median(numbers(everyone)),
                    _median(numbers(swapped_in)),
                    _median(numbers(swapped_out)),
                )
            )
        else:
            among = [r.get(name) for r in everyone]
            common, count = Counter(among).most_common(1)[0]
            moves.append(
                FieldMove(
                    name,
                    "category",
                    f"{common} {count / len(among):.0%}",
                    _top_category([r.get(name) for r in swapped_in], among),
                    _top_category([r.get(name) for r in swapped_out], among),
                )
            )
    return moves


def measure(
    records: Iterable[Mapping[str, Any]],
    outcomes: Mapping[str, bool] | None = None,
) -> SwapReport | None:
    """The swap set of the records that hold a scored challenger; None when there are none.

    ``outcomes``: ``defaulted`` by ``decision_id``, where known. Records of more than one
    champion or challenger are measured for the most frequent pair only (the others
    count as skipped).
    """
    usable: list[Mapping[str, Any]] = []
    skipped = 0
    for record in records:
        if has_shadow(record):
            usable.append(record)
        else:
            skipped += 1
    if not usable:
        return None
    pairs = Counter((r["model_tag"], r["challenger"]["model_tag"]) for r in usable)
    pair = pairs.most_common(1)[0][0]
    champion, challenger = pair
    chosen = [r for r in usable if (r["model_tag"], r["challenger"]["model_tag"]) == pair]
    skipped += len(usable) - len(chosen)
    cells = {a: dict.fromkeys(STATUSES, 0) for a in STATUSES}
    known = {a: {b: [0, 0] for b in STATUSES} for a in STATUSES}
    swapped_in: list[Mapping[str, Any]] = []
    swapped_out: list[Mapping[str, Any]] = []
    shifts = []
    times = []
    for record in chosen:
        a, b = record["status"], record["challenger"]["status"]
        cells[a][b] += 1
        shifts.append(record["challenger"]["score"] - record["score"])
        if isinstance(record.get("time"), str):
            times.append(record["time"])
        if b == STATUS_APPROVED and a != STATUS_APPROVED:
            swapped_in.append(record["application"])
        elif a == STATUS_APPROVED and b != STATUS_APPROVED:
            swapped_out.append(record["application"])
        if outcomes is not None and record["decision_id"] in outcomes:
            known[a][b][0] += 1
            known[a][b][1] += int(outcomes[record["decision_id"]])
    return SwapReport(
        champion=champion,
        challenger=challenger,
        decisions=len(chosen),
        cells=cells,
        score_shifts=shifts,
        fields=field_moves([r["application"] for r in chosen], swapped_in, swapped_out),
        defaults={a: {b: (known[a][b][0], known[a][b][1]) for b in STATUSES} for a in STATUSES},
        first_time=min(times) if times else None,
        last_time=max(times) if times else None,
        skipped=skipped,
    )


def generated_at() -> str:
    """Now, for the report's stamp."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
