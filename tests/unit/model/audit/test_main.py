"""python -m credit_risk.model.audit: tables, JSON and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from credit_risk.commands import EXIT_USAGE
from credit_risk.model.audit.__main__ import EXIT_FAILED, EXIT_NOTHING_TO_AUDIT, main
from credit_risk.training.data import Dataset
from tests.support.models import stored_booster
from tests.unit.model.audit.models import AGE_FREE, MARITAL_SCORED, older_default, single_default
from tests.unit.model.audit.models import small_model as train_small


def _run(tag: str, training_data: Dataset, target: Path) -> int:
    return main(
        [
            "--model",
            tag,
            "--data-dir",
            str(training_data.path.parent),
            "--data-rows",
            "120",
            "--generated",
            "80",
            "--json",
            str(target),
        ]
    )


def test_the_served_model_passes_with_every_figure_in_the_json(
    trained_model: str,
    training_data: Dataset,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    target = tmp_path / "out" / "audit.json"
    assert _run(trained_model, training_data, target) == 0
    written = json.loads(target.read_text())
    assert written["model_tag"] == trained_model and written["passed"] is True
    assert written["failures"] == []
    assert [p["name"] for p in written["populations"]] == ["data", "generated"]
    assert [p["rows"] for p in written["populations"]] == [120, 80]
    for population in written["populations"]:
        assert population["protected"]["citing"] == 0 and population["elderly"]["holds"]
        assert all(direction["holds"] for direction in population["directions"])
    assert written["income_sweep"]["rows"] == 120 and written["income_sweep"]["holds"]
    output = capsys.readouterr().out
    assert "PASSED: 0 properties fail" in output and "FAILS" not in output


def test_a_model_breaking_the_elderly_rule_fails(
    trained_model: str,
    training_data: Dataset,
    course_frame: pd.DataFrame,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    booster = train_small(course_frame, older_default(course_frame), AGE_FREE).booster
    target = tmp_path / "audit.json"
    with stored_booster(booster, trained_model) as tag:
        assert _run(tag, training_data, target) == EXIT_FAILED
    written = json.loads(target.read_text())
    assert written["passed"] is False
    assert [p["elderly"]["holds"] for p in written["populations"]] == [False, False]
    output = capsys.readouterr().out
    assert "FAILED" in output and "elderly rule fails" in output


def test_a_model_scoring_marital_status_is_refused_before_any_audit(
    trained_model: str,
    training_data: Dataset,
    course_frame: pd.DataFrame,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    booster = train_small(course_frame, single_default(course_frame), MARITAL_SCORED).booster
    with stored_booster(booster, trained_model) as tag:
        assert _run(tag, training_data, tmp_path / "audit.json") == EXIT_NOTHING_TO_AUDIT
    assert not (tmp_path / "audit.json").exists()
    assert "CREDIT_RISK_ALLOW_SCORED_PROTECTED" in capsys.readouterr().out


def test_nothing_to_audit_and_bad_usage(trained_model: str, tmp_path: Path) -> None:
    assert main(["--model", "credit_risk_model:nosuchtag"]) == EXIT_NOTHING_TO_AUDIT
    (tmp_path / "CreditScoring.csv").write_text("status,seniority\n1,2\n")
    assert main(["--model", trained_model, "--data-dir", str(tmp_path)]) == EXIT_NOTHING_TO_AUDIT
    for bad in (["--generated", "-1"], ["--threads", "0"], ["--protected", "ssn"]):
        with pytest.raises(SystemExit) as stopped:
            main(bad)
        assert stopped.value.code == EXIT_USAGE
