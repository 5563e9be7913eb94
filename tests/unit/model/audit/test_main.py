"""python -m credit_risk.model.audit: tables, JSON and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from credit_risk.commands import EXIT_USAGE
from credit_risk.model.audit.__main__ import EXIT_FAILED, EXIT_NOTHING_TO_AUDIT, main
from credit_risk.training.data import Dataset


def test_the_served_model_fails_with_every_figure_in_the_json(
    trained_model: str,
    training_data: Dataset,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    target = tmp_path / "out" / "audit.json"
    code = main(
        [
            "--model",
            trained_model,
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
    assert code == EXIT_FAILED
    written = json.loads(target.read_text())
    assert written["model_tag"] == trained_model and written["passed"] is False
    assert [p["name"] for p in written["populations"]] == ["data", "generated"]
    assert [p["rows"] for p in written["populations"]] == [120, 80]
    assert written["income_sweep"]["rows"] == 120
    output = capsys.readouterr().out
    assert "FAILED" in output and "marital" in output and "elderly rule" in output


def test_nothing_to_audit_and_bad_usage(trained_model: str, tmp_path: Path) -> None:
    assert main(["--model", "credit_risk_model:nosuchtag"]) == EXIT_NOTHING_TO_AUDIT
    (tmp_path / "CreditScoring.csv").write_text("status,seniority\n1,2\n")
    assert main(["--model", trained_model, "--data-dir", str(tmp_path)]) == EXIT_NOTHING_TO_AUDIT
    for bad in (["--generated", "-1"], ["--threads", "0"], ["--protected", "ssn"]):
        with pytest.raises(SystemExit) as stopped:
            main(bad)
        assert stopped.value.code == EXIT_USAGE
