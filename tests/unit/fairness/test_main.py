"""python -m credit_risk.fairness: the report from decision records, and its exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from credit_risk.commands import EXIT_USAGE
from credit_risk.fairness.__main__ import EXIT_FLAGGED, EXIT_NOTHING_TO_READ, main
from credit_risk.fairness.table import fairness_table
from credit_risk.model.metadata import FairnessTable
from credit_risk.records import decision_record, record_line
from credit_risk.schema import COURSE_EXAMPLE
from tests.unit.fairness.population import BALANCED, UNBALANCED, Block, decisions

MODEL = "credit_risk_model:fair"
OTHER = "credit_risk_model:other"


def _write_records(
    folder: Path,
    blocks: tuple[Block, ...],
    *,
    model_tag: str = MODEL,
    time: str = "2026-12-01T13:00:00.000000Z",
    prefix: str = "d",
) -> None:
    """One record per decision of ``blocks``, as the writers write them, split over two
    files at different depths (the reader finds ``**/*.jsonl``)."""
    population = decisions(blocks)
    lines = []
    for index, (age, marital, status, probability) in enumerate(
        zip(
            population.age,
            population.marital,
            population.status,
            population.probability,
            strict=True,
        )
    ):
        application = {**COURSE_EXAMPLE, "age": int(age), "marital": marital}
        decision = {
            "decision_id": f"{prefix}{index}",
            "model_tag": model_tag,
            "policy_version": "course-v1",
            "status": status,
            "default_probability": probability,
            "score": 600,
            "reasons": [],
            "out_of_training_range": [],
        }
        lines.append(
            record_line(
                decision_record(
                    application, decision, endpoint="/classify", latency_ms=1.0, time=time
                )
            )
        )
    half = len(lines) // 2
    for path, part in (
        (folder / "decisions" / f"{prefix}-a.jsonl", lines[:half]),
        (folder / "decisions" / "worker-2" / f"{prefix}-b.jsonl", lines[half:]),
    ):
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("ab") as file:
            file.writelines(part)


def _expected(blocks: tuple[Block, ...]) -> FairnessTable:
    population = decisions(blocks)
    return fairness_table(
        "expected", age=population.age, marital=population.marital, status=population.status
    )


def _run(records: Path, output: Path, *extra: str) -> int:
    return main(["--records", str(records), "-o", str(output), *extra])


def test_balanced_decisions_exit_0_with_the_report_written(tmp_path: Path) -> None:
    _write_records(tmp_path / "monitoring", BALANCED)
    output = tmp_path / "out" / "fairness"
    assert _run(tmp_path / "monitoring", output) == 0
    written = FairnessTable.model_validate(json.loads((output / "fairness.json").read_text()))
    expected = _expected(BALANCED)
    assert written.rows == expected.rows and written.decisions == expected.decisions
    assert written.population.startswith("decision records under")
    page = (output / "fairness.html").read_text()
    assert page.startswith("<!doctype html>") and "<svg" in page
    assert "No group below four fifths" in page
    assert f"{expected.decisions:,} decisions" in page


def test_a_flagged_group_exits_1_and_the_page_names_it(tmp_path: Path) -> None:
    _write_records(tmp_path / "monitoring", UNBALANCED)
    output = tmp_path / "fairness"
    assert _run(tmp_path / "monitoring", output) == EXIT_FLAGGED
    written = FairnessTable.model_validate(json.loads((output / "fairness.json").read_text()))
    assert written.rows == _expected(UNBALANCED).rows
    assert [(row.group, row.value) for row in written.flagged] == [
        ("age", "under 25"),
        ("marital", "single"),
    ]
    page = (output / "fairness.html").read_text()
    assert "2 group(s) below four fifths: age under 25, marital single" in page


def test_records_are_chosen_by_model_and_time(tmp_path: Path) -> None:
    monitoring = tmp_path / "monitoring"
    # Another model's unbalanced decisions, and this model's older unbalanced ones...
    _write_records(monitoring, UNBALANCED, model_tag=OTHER, prefix="o")
    _write_records(monitoring, UNBALANCED, time="2026-11-01T00:00:00.000000Z", prefix="old")
    # ...beside this model's recent balanced ones.
    _write_records(monitoring, BALANCED, prefix="new")
    output = tmp_path / "fairness"
    assert _run(monitoring, output) == EXIT_FLAGGED
    assert _run(monitoring, output, "--model", MODEL) == EXIT_FLAGGED
    assert _run(monitoring, output, "--model", MODEL, "--since", "2026-11-15T00:00Z") == 0
    written = json.loads((output / "fairness.json").read_text())
    assert written["decisions"] == len(decisions(BALANCED).status)
    assert "since 2026-11-15" in written["population"]


def test_no_records_exit_3(tmp_path: Path) -> None:
    assert _run(tmp_path / "nothing", tmp_path / "out") == EXIT_NOTHING_TO_READ
    _write_records(tmp_path / "monitoring", BALANCED)
    # Records there, but none of the model asked for.
    assert _run(tmp_path / "monitoring", tmp_path / "out", "--model", OTHER) == EXIT_NOTHING_TO_READ
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "bad", [["--since", "yesterday"], ["--records"], ["--no-such-option"]], ids=str
)
def test_bad_usage_exits_4(bad: list[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(bad)
    assert stopped.value.code == EXIT_USAGE
