"""The decision policy and the scorecard."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from credit_risk.policy import COURSE_POLICY, DecisionPolicy, Scorecard


@pytest.mark.parametrize(
    ("probability", "status"),
    [
        (0.0, "APPROVED"),
        (0.25, "APPROVED"),
        (0.2501, "MAYBE"),
        (0.5, "MAYBE"),
        (0.5001, "DECLINED"),
    ],
)
def test_course_thresholds(probability: float, status: str) -> None:
    assert COURSE_POLICY.status(probability) == status


def test_scorecard_anchors() -> None:
    card = Scorecard()
    assert card.points(1 / 20) == 600  # odds of default 1:19
    assert card.points(2 / 21) == 550  # odds doubled: 50 points fewer
    assert card.points(0.5) == round(card.offset)  # odds 1:1
    assert round(card.offset) == 388  # 600 - 50 * log2(19)
    assert card.points(0.0) > card.points(0.01) > card.points(0.99) > card.points(1.0)


def test_scorecard_is_configurable() -> None:
    card = Scorecard(base_points=500, base_odds=50, points_to_double_odds=20)
    assert card.points(1 / 51) == 500
    assert card.points(2 / 52) == 480


def test_inverted_thresholds_are_rejected() -> None:
    with pytest.raises(ValidationError, match="review_above"):
        DecisionPolicy(version="x", decline_above=0.2, review_above=0.4)
