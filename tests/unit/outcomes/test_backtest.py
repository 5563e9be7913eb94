"""The back-test's verdicts, on outcomes drawn by the generator from a stated risk."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from credit_risk.generator import draw_outcomes
from credit_risk.outcomes.__main__ import main
from credit_risk.outcomes.backtest import Outcomes, Thresholds, Verdict, backtest
from tests.unit.outcomes.written import write_outcomes, write_records


def _outcomes(probabilities: np.ndarray, defaulted: np.ndarray, tags: list[str]) -> Outcomes:
    n = probabilities.size
    return Outcomes.of(
        {
            "default_probability": probabilities,
            "defaulted": defaulted,
            "score": np.round(600 - 300 * probabilities),
            "vintage": np.array(["2026-01", "2026-02"] * (n // 2)),
            "model_tag": np.array(tags * (n // len(tags))),
            "status": np.where(probabilities <= 0.25, "APPROVED", "DECLINED"),
            "age": np.arange(n) % 70 + 18,
            "marital": np.array(["single", "married"] * (n // 2)),
        }
    )


@pytest.fixture
def probabilities() -> np.ndarray:
    """A portfolio's default probabilities."""
    return np.random.default_rng(7).beta(1.3, 5, 20_000)


def test_draw_outcomes_follows_the_stated_risk(probabilities: np.ndarray) -> None:
    own = draw_outcomes(probabilities, seed=1)
    doubled = draw_outcomes(probabilities, risk_factor=2.0, seed=1)
    assert set(np.unique(own)) <= {0, 1}
    assert own.mean() == pytest.approx(probabilities.mean(), abs=0.01)
    assert doubled.mean() == pytest.approx(np.minimum(2 * probabilities, 1).mean(), abs=0.01)
    assert np.array_equal(own, draw_outcomes(probabilities, seed=1))


def test_the_model_own_risk_is_sound_and_doubled_risk_acts_per_model(
    probabilities: np.ndarray,
) -> None:
    own = draw_outcomes(probabilities, seed=2).astype(bool)
    doubled = draw_outcomes(probabilities, risk_factor=2.0, seed=2).astype(bool)
    # Champion told the truth; the challenger's risks were half the true ones.
    champion = np.arange(probabilities.size) % 2 == 0
    mixed = np.where(champion, own, doubled)
    report = backtest(_outcomes(probabilities, mixed, ["champion", "challenger"]), Thresholds(), {})
    by_name = {m.name: m for m in report.models}
    assert by_name["champion"].verdict(report.thresholds) is Verdict.SOUND
    assert by_name["challenger"].verdict(report.thresholds) is Verdict.ACT
    assert report.verdict is Verdict.ACT
    failing = by_name["challenger"].failing_bands()
    assert failing and all(
        f"challenger: band {label}" in " ".join(report.reasons()) for label in failing
    )
    assert not any(r.startswith("champion") for r in report.reasons())
    figures = report.as_dict()
    assert figures["exit_code"] == 2
    assert [v["name"] for v in figures["vintages"]] == ["2026-01", "2026-02"]
    assert {g["value"] for g in figures["fairness"]} >= {"under 25", "25-61", "62+", "single"}


def test_auc_thresholds_are_the_configured_ones(probabilities: np.ndarray) -> None:
    own = draw_outcomes(probabilities, seed=3).astype(bool)
    outcomes = _outcomes(probabilities, own, ["m"])
    auc = backtest(outcomes, Thresholds(), {}).overall.discrimination.auc
    strict = backtest(outcomes, Thresholds(auc_watch=auc + 0.01, auc_act=auc - 0.01), {})
    assert strict.verdict is Verdict.WATCH
    assert any("AUC" in reason for reason in strict.reasons())


def test_command_reports_and_exits_3_with_nothing_to_compare(tmp_path: Path) -> None:
    probabilities = np.random.default_rng(8).beta(1.3, 5, 3000)
    ids = write_records(tmp_path / "decisions" / "w.jsonl", probabilities)
    assert main(["--monitoring-dir", str(tmp_path), "report", "-o", str(tmp_path / "r")]) == 3
    outcomes = draw_outcomes(probabilities, seed=4)
    rows = [(i, int(o), "2027-01-01T00:00:00Z") for i, o in zip(ids, outcomes, strict=True)]
    path = write_outcomes(tmp_path / "o.csv", rows)
    assert main(["--monitoring-dir", str(tmp_path), "load", str(path)]) == 0
    code = main(["--monitoring-dir", str(tmp_path), "report", "-o", str(tmp_path / "r")])
    figures = json.loads((tmp_path / "r" / "outcomes.json").read_text())
    assert code == figures["exit_code"] == 0, figures["reasons"]
    assert figures["counts"]["joined"] == 3000
    page = (tmp_path / "r" / "outcomes.html").read_text()
    assert page.count("<svg") == 2
    assert "<script" not in page
