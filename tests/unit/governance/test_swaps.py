"""The swap set from decision records: the 3 x 3 table, swaps in and out, default rates
per cell, and the command's files and exit codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from credit_risk.governance import swaps
from credit_risk.governance.__main__ import main
from credit_risk.records.format import decision_lines

CHAMPION = "credit_risk_model:a"
CHALLENGER = "credit_risk_model:b"
SCORES = {"APPROVED": 520, "MAYBE": 450, "DECLINED": 380}


def _application(income: float, home: str) -> dict[str, Any]:
    return {
        "seniority": 3, "home": home, "time": 36, "age": 30, "marital": "single",
        "records": "no", "job": "fixed", "expenses": 50, "income": income,
        "assets": 0.0, "debt": 0.0, "amount": 1000, "price": 1500,
    }  # fmt: skip


def _records(pairs: list[tuple[str, str]], *, failed: int = 0) -> list[dict[str, Any]]:
    applications, decisions, challengers = [], [], []
    for index, (mine, theirs) in enumerate(pairs):
        swapped_in = theirs == "APPROVED" and mine != "APPROVED"
        applications.append(_application(300.0 if swapped_in else 100.0, "owner"))
        decisions.append(
            {
                "decision_id": f"d{index}", "model_tag": CHAMPION, "policy_version": "p",
                "status": mine, "default_probability": 0.3, "score": SCORES[mine],
                "reasons": [], "out_of_training_range": [],
            }
        )  # fmt: skip
        challengers.append(
            {"model_tag": CHALLENGER, "status": theirs, "default_probability": 0.2,
             "score": SCORES[theirs]}
        )  # fmt: skip
    for index in range(failed):
        challengers[index] = {"model_tag": CHALLENGER, "error": "not loaded: x"}
    lines = decision_lines(
        applications, decisions, endpoint="/classify", latency_ms=1, challengers=challengers
    )
    return [json.loads(line) for line in lines]


PAIRS = (
    [("APPROVED", "APPROVED")] * 80
    + [("MAYBE", "APPROVED")] * 6
    + [("APPROVED", "MAYBE")] * 4
    + [("DECLINED", "DECLINED")] * 10
)


def test_the_table_swaps_and_default_rates() -> None:
    records = _records(PAIRS, failed=0)
    outcomes = {r["decision_id"]: i % 2 == 0 for i, r in enumerate(records) if i >= 80}
    report = swaps.measure(records, outcomes)
    assert report is not None and report.decisions == 100
    assert report.cells["MAYBE"]["APPROVED"] == 6 and report.cells["APPROVED"]["MAYBE"] == 4
    assert (report.swap_in, report.swap_out) == (6, 4)
    assert report.approval_rates == (0.84, 0.86)
    assert report.verdict == swaps.Verdict.WATCH  # 10% swapped
    assert report.defaults["MAYBE"]["APPROVED"] == (6, 3)
    assert report.defaults["APPROVED"]["APPROVED"] == (0, 0)
    income = next(move for move in report.fields if move.name == "income")
    assert (income.everyone, income.swap_in, income.swap_out) == ("100", "300", "100")
    figures = report.as_dict()
    assert figures["score_shift"]["mean"] == pytest.approx((6 * 70 - 4 * 70) / 100)
    assert sum(cell["count"] for cell in figures["cells"]) == 100


def test_failed_challengers_are_skipped_and_none_scored_is_nothing() -> None:
    report = swaps.measure(_records(PAIRS, failed=10))
    assert report is not None and report.decisions == 90 and report.skipped == 10
    assert swaps.measure(_records(PAIRS[:5], failed=5)) is None


@pytest.mark.parametrize(("moved", "code"), [(2, 0), (10, 1), (30, 2)])
def test_the_command_writes_both_files_and_grades_the_swaps(
    tmp_path: Path, moved: int, code: int
) -> None:
    pairs = [("MAYBE", "APPROVED")] * moved + [("DECLINED", "DECLINED")] * (100 - moved)
    folder = tmp_path / "monitoring" / "decisions"
    folder.mkdir(parents=True)
    (folder / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in _records(pairs)))
    output = tmp_path / "report"
    assert (
        main(["swaps", "--monitoring-dir", str(tmp_path / "monitoring"), "-o", str(output)]) == code
    )
    assert json.loads((output / "swaps.json").read_text())["swap_in"] == moved
    assert "<svg" in (output / "swaps.html").read_text()


def test_no_records_with_a_challenger_exits_3(tmp_path: Path) -> None:
    assert main(["swaps", "--records", str(tmp_path), "-o", str(tmp_path / "r")]) == 3
