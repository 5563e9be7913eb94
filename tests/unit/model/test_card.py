"""The model card: every figure in it is the stored metadata's, read back here one by one,
and no number in it comes from anywhere else; the HTML card holds the same tables."""

from __future__ import annotations

import html
import re
from typing import Final

import bentoml
import pytest

from credit_risk.fairness.table import MIN_GROUP
from credit_risk.features import ELDERLY_AGE, MONOTONE_CONSTRAINTS
from credit_risk.model.card import card_html, card_markdown, readable_params
from credit_risk.model.metadata import GroupFairness, ModelMetadata

NUMBER: Final = re.compile(r"(?<![\w.])\d[\d,]*(?:\.\d+)?%?")
"""A number as the card writes one: digits, thousands commas, decimals, a percent sign."""


@pytest.fixture(scope="module")
def metadata(trained_model: str) -> ModelMetadata:
    """The served model's stored metadata."""
    return ModelMetadata.model_validate(bentoml.models.get(trained_model).info.metadata)


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def _fairness_cells(row: GroupFairness) -> list[str]:
    if row.adverse_impact_ratio is None:
        ratio = f"too few (< {MIN_GROUP})"
    else:
        ratio = f"{row.adverse_impact_ratio:.2f}" + (" below 4/5" if row.below_four_fifths else "")
    return [
        f"{row.group}: {row.value}",
        f"{row.applications:,}",
        f"{row.approved:,}",
        _percent(row.approval_rate),
        ratio,
        _percent(row.default_rate),
        _percent(row.mean_predicted),
    ]


def _table_rows(metadata: ModelMetadata) -> list[list[str]]:
    """The cells of every calibration and fairness row the card must show."""
    calibration = [
        [str(i), str(row.n), f"{row.mean_predicted:.3f}", f"{row.observed_rate:.3f}"]
        for i, row in enumerate(metadata.calibration, start=1)
    ]
    return calibration + [_fairness_cells(row) for row in metadata.fairness.rows]


def _figures(metadata: ModelMetadata) -> list[str]:
    """Every figure of the metadata the card shows, formatted as the card writes it."""
    low, high = metadata.test_auc_interval
    policy = metadata.policy
    card = policy.scorecard
    return [
        f"{metadata.n_rows:,} applications, {metadata.data_source}",
        f"sha256 `{metadata.data_sha256}`",
        f"Trained at {metadata.trained_at}, XGBoost {metadata.xgboost_version}.",
        f"AUC {metadata.cv_auc:.4f} (standard deviation over folds {metadata.cv_auc_std:.4f})",
        f"{metadata.test_auc:.4f}, 95% bootstrap interval {low:.4f} to {high:.4f}",
        f"Brier score {metadata.brier:.4f}, log loss {metadata.log_loss:.4f}",
        f"CV AUC {metadata.baseline.cv_auc:.4f}, held-out AUC {metadata.baseline.test_auc:.4f}",
        f"{metadata.fairness.decisions:,} decisions by policy {policy.version}",
        f"{policy.version}: DECLINED above a default probability of {policy.decline_above}, "
        f"MAYBE above {policy.review_above}, else APPROVED",
        f"Score: {card.base_points} points at odds 1:{card.base_odds}, "
        f"{card.points_to_double_odds} fewer points double the odds",
        f"Trained on {metadata.n_rows:,} applications",
        f"the model reads min(age, {ELDERLY_AGE})",
        *(f"{name}: {value}\n" for name, value in readable_params(metadata.params).items()),
        *("| " + " | ".join(cells) + " |" for cells in _table_rows(metadata)),
    ]


FIXED_TEXT: Final = (
    "12 CFR 1002.6(b)(1)",
    "(5x5)",
    "95% bootstrap",
    f"aged {ELDERLY_AGE} or more",
)
"""The card's own words that hold numbers: a regulation, the CV scheme, the interval's
level, Regulation B's elderly age."""


def test_every_figure_is_the_metadatas(trained_model: str, metadata: ModelMetadata) -> None:
    text = card_markdown(trained_model, metadata)
    assert text.startswith(f"# Model card: {trained_model}\n")
    missing = [figure for figure in _figures(metadata) if figure not in text]
    assert missing == []
    assert len(metadata.calibration) == 10 and metadata.fairness.rows
    # The fields: what the proofs found on the trees.
    assert f"- Scored: {', '.join(metadata.proofs.scored_fields)}." in text
    assert "- Not scored: marital." in text and "Scores protected fields" not in text
    for name in metadata.proofs.directions:
        assert f"- {name}: more never" in text
    assert "Regulation B's elderly rule holds" in text


def test_no_number_comes_from_anywhere_else(trained_model: str, metadata: ModelMetadata) -> None:
    text = card_markdown(trained_model, metadata)
    # The parts that are not figures (the tag, the data's hash, the time, the version, the
    # recipe's lines) and the card's own words are checked above: set them aside.
    for known in (
        trained_model,
        metadata.data_sha256,
        metadata.trained_at,
        f"XGBoost {metadata.xgboost_version}",
        *(f"{name}: {value}\n" for name, value in readable_params(metadata.params).items()),
        *FIXED_TEXT,
    ):
        assert known in text, known
        text = text.replace(known, "")
    allowed = {token for figure in _figures(metadata) for token in NUMBER.findall(figure)}
    invented = sorted({token for token in NUMBER.findall(text)} - allowed)
    assert invented == []
    # The check has teeth: a figure the metadata does not hold is caught.
    assert "0.1234" not in allowed and NUMBER.findall("AUC 0.1234") == ["0.1234"]


def test_the_html_card_holds_the_same_rows(trained_model: str, metadata: ModelMetadata) -> None:
    page = card_html(trained_model, metadata)
    assert page.startswith("<!doctype html>") and html.escape(trained_model) in page
    for cells in _table_rows(metadata):
        row = "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in cells) + "</tr>"
        assert row in page, row
    text = re.sub(r"<[^>]+>", "", page)  # code spans and the like
    for figure in _figures(metadata):
        if not figure.startswith("|"):
            assert html.escape(figure.strip().replace("`", "")) in text, figure


def test_the_recipes_constraints_are_named(metadata: ModelMetadata) -> None:
    readable = readable_params(metadata.params)
    named = dict(item.split(" ") for item in readable["monotone_constraints"].split(", "))
    assert {name: int(sense) for name, sense in named.items()} == MONOTONE_CONSTRAINTS
    assert readable["interaction_constraints"] == "age | every other feature"


def test_the_card_says_what_is_not_proven(trained_model: str, metadata: ModelMetadata) -> None:
    proofs = metadata.proofs.model_copy(
        update={
            "scored_fields": [*metadata.proofs.scored_fields, "marital"],
            "scored_protected_fields": ["marital"],
            "directions": {k: v for k, v in metadata.proofs.directions.items() if k != "income"},
            "elderly_rule": False,
        }
    )
    text = card_markdown(trained_model, metadata.model_copy(update={"proofs": proofs}))
    assert "**Scores protected fields: marital.**" in text
    assert "CREDIT_RISK_ALLOW_SCORED_PROTECTED" in text
    assert "Regulation B's elderly rule is NOT proven" in text
    assert "- income: more never" not in text and "- assets: more never" in text
