"""A small hand-made population of decisions for the fairness tests: groups whose
approval rates are known by construction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class Block:
    """``count`` identical decisions."""

    age: int
    marital: str
    status: str
    count: int
    probability: float
    defaulted: bool


UNBALANCED: Final = (
    # under 25: 40 decisions, 20 approved (0.5), 10 of them defaulting.
    Block(20, "single", "APPROVED", 20, 0.10, False),
    Block(20, "single", "DECLINED", 10, 0.70, True),
    Block(20, "single", "DECLINED", 10, 0.60, False),
    # 25-61: 100 decisions, 80 approved (0.8): the most favoured age band.
    Block(40, "married", "APPROVED", 70, 0.05, False),
    Block(40, "married", "MAYBE", 10, 0.40, True),
    Block(40, "single", "APPROVED", 10, 0.20, True),
    Block(40, "single", "DECLINED", 10, 0.90, True),
    # 62+: 10 decisions, all approved, too few to judge (or to be the most favoured).
    Block(70, "widow", "APPROVED", 10, 0.15, False),
)
"""Under 25 at 0.5 / 0.8 = 0.625 of the most favoured band: flagged. Single at
30/60 = 0.5 against married at 70/80 = 0.875: 0.571, flagged. Widow and 62+: 10 each."""

BALANCED: Final = (
    Block(22, "single", "APPROVED", 32, 0.10, False),
    Block(22, "single", "DECLINED", 8, 0.70, True),
    Block(45, "married", "APPROVED", 50, 0.10, False),
    Block(45, "single", "APPROVED", 30, 0.10, False),
    Block(45, "single", "MAYBE", 2, 0.40, False),
    Block(66, "married", "APPROVED", 29, 0.10, False),
    Block(66, "married", "DECLINED", 1, 0.70, True),
)
"""Under 25 at 32/40 = 0.8, 0.82 of 25-61's 80/82 (the most favoured; 62+ at 29/30):
not below four fifths. Single at 62/72, 0.87 of married's 79/80."""


@dataclass(frozen=True)
class Decisions:
    """The decisions column-wise, one entry per decision."""

    age: list[float]
    marital: list[str]
    status: list[str]
    probability: list[float]
    defaulted: list[bool]


def decisions(blocks: tuple[Block, ...]) -> Decisions:
    """Every decision of ``blocks``, in order."""
    rows = [block for block in blocks for _ in range(block.count)]
    return Decisions(
        age=[float(row.age) for row in rows],
        marital=[row.marital for row in rows],
        status=[row.status for row in rows],
        probability=[row.probability for row in rows],
        defaulted=[row.defaulted for row in rows],
    )
