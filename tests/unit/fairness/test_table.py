"""The fairness table of a population of decisions: approval rates, adverse impact ratios
against the most favoured group of each kind, the four-fifths flag, small groups shown
but not judged, and default rates and calibration when outcomes are given."""

from __future__ import annotations

import pytest

from credit_risk.fairness.table import FOUR_FIFTHS, MIN_GROUP, fairness_table
from credit_risk.model.metadata import FairnessTable, GroupFairness
from tests.unit.fairness.population import BALANCED, UNBALANCED, Block, decisions


def _table(blocks: tuple[Block, ...], *, outcomes: bool = False) -> FairnessTable:
    population = decisions(blocks)
    return fairness_table(
        "hand-made",
        age=population.age,
        marital=population.marital,
        status=population.status,
        probability=population.probability if outcomes else None,
        defaulted=population.defaulted if outcomes else None,
    )


def _rows(table: FairnessTable) -> dict[tuple[str, str], GroupFairness]:
    return {(row.group, row.value): row for row in table.rows}


def test_rates_ratios_and_flags_of_an_unbalanced_population() -> None:
    table = _table(UNBALANCED)
    assert table.population == "hand-made" and table.decisions == 150
    # Age bands, then the marital labels present, in vocabulary order.
    assert [(row.group, row.value) for row in table.rows] == [
        ("age", "under 25"),
        ("age", "25-61"),
        ("age", "62+"),
        ("marital", "single"),
        ("marital", "married"),
        ("marital", "widow"),
    ]
    rows = _rows(table)
    counts = {key: (row.applications, row.approved) for key, row in rows.items()}
    assert counts == {
        ("age", "under 25"): (40, 20),
        ("age", "25-61"): (100, 80),
        ("age", "62+"): (10, 10),
        ("marital", "single"): (60, 30),
        ("marital", "married"): (80, 70),
        ("marital", "widow"): (10, 10),
    }
    assert rows[("age", "under 25")].approval_rate == 0.5
    # Against the most favoured group of the kind with MIN_GROUP decisions or more: 62+
    # and widow approve everyone, but are too small to be the reference or be judged.
    assert rows[("age", "25-61")].adverse_impact_ratio == 1.0
    assert rows[("age", "under 25")].adverse_impact_ratio == pytest.approx(0.5 / 0.8)
    assert rows[("marital", "married")].adverse_impact_ratio == 1.0
    assert rows[("marital", "single")].adverse_impact_ratio == pytest.approx(0.5 / 0.875)
    for small in (("age", "62+"), ("marital", "widow")):
        assert rows[small].applications < MIN_GROUP
        assert rows[small].adverse_impact_ratio is None and not rows[small].below_four_fifths
        assert rows[small].approval_rate == 1.0
    assert [(row.group, row.value) for row in table.flagged] == [
        ("age", "under 25"),
        ("marital", "single"),
    ]
    # No outcomes given: no default rate, no calibration.
    assert all(row.default_rate is None and row.mean_predicted is None for row in table.rows)


def test_default_rates_and_mean_predicted_when_outcomes_are_given() -> None:
    rows = _rows(_table(UNBALANCED, outcomes=True))
    assert rows[("age", "under 25")].default_rate == pytest.approx(10 / 40)
    assert rows[("age", "under 25")].mean_predicted == pytest.approx(
        (20 * 0.10 + 10 * 0.70 + 10 * 0.60) / 40
    )
    assert rows[("age", "25-61")].default_rate == pytest.approx(30 / 100)
    assert rows[("age", "25-61")].mean_predicted == pytest.approx(
        (70 * 0.05 + 10 * 0.40 + 10 * 0.20 + 10 * 0.90) / 100
    )
    assert rows[("marital", "single")].default_rate == pytest.approx(30 / 60)
    assert rows[("marital", "widow")].default_rate == 0.0
    assert rows[("marital", "widow")].mean_predicted == pytest.approx(0.15)
    # The approval figures do not depend on the outcomes.
    plain = _rows(_table(UNBALANCED))
    for key, row in rows.items():
        assert row.adverse_impact_ratio == plain[key].adverse_impact_ratio


def test_a_balanced_population_flags_nothing() -> None:
    table = _table(BALANCED)
    rows = _rows(table)
    assert table.flagged == []
    assert rows[("age", "under 25")].approval_rate == 0.8
    ratio = rows[("age", "under 25")].adverse_impact_ratio
    assert ratio is not None and FOUR_FIFTHS < ratio < 1
    assert rows[("age", "62+")].applications == MIN_GROUP  # judged from MIN_GROUP on
    assert rows[("age", "62+")].adverse_impact_ratio is not None
    assert ("marital", "widow") not in rows  # absent labels are not shown


def test_exactly_four_fifths_is_not_below() -> None:
    blocks = (
        Block(20, "single", "APPROVED", 40, 0.1, False),
        Block(20, "single", "DECLINED", 10, 0.1, False),
        Block(40, "single", "APPROVED", 50, 0.1, False),
    )
    rows = _rows(_table(blocks))
    assert rows[("age", "under 25")].adverse_impact_ratio == FOUR_FIFTHS
    assert not rows[("age", "under 25")].below_four_fifths
    # One approval less (39 of 50): below.
    one_less = (
        Block(20, "single", "APPROVED", 39, 0.1, False),
        Block(20, "single", "DECLINED", 11, 0.1, False),
        blocks[2],
    )
    assert _rows(_table(one_less))[("age", "under 25")].below_four_fifths
