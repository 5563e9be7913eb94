"""``python -m credit_risk.outcomes`` on the records a real server wrote.

The course's test split goes through ``/classify_batch`` of a real ``bentoml serve``
(records written by the service itself); its true labels come back as outcomes.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from credit_risk.schema import application_records
from credit_risk.training.recipes import course_split
from tests.support.servers import ROOT, start_server


@dataclass(frozen=True)
class Served:
    """The course test split as the server decided it, with the true labels."""

    monitoring_dir: Path
    decision_ids: list[str]
    probabilities: np.ndarray
    defaulted: np.ndarray


@pytest.fixture(scope="module")
def served(tmp_root: Path, trained_model: str, course_frame: pd.DataFrame) -> Iterator[Served]:
    """Decisions (and their records) of the real service for the 891 test applications."""
    test = course_split(course_frame)[1]
    server = start_server(tmp_root, "embedded")
    try:
        with httpx.Client(base_url=server.url, timeout=120) as client:
            response = client.post(
                "/classify_batch", json={"applications": application_records(test)}
            )
        assert response.status_code == 200, response.text
    finally:
        server.stop()
    decisions = response.json()["decisions"]
    yield Served(
        monitoring_dir=server.monitoring_dir,
        decision_ids=[d["decision_id"] for d in decisions],
        probabilities=np.array([d["default_probability"] for d in decisions]),
        defaulted=(test["status"] == "default").to_numpy(),
    )


@dataclass(frozen=True)
class Run:
    """One run of the outcomes command."""

    code: int
    output: str
    figures: dict[str, Any] | None


def _outcomes(store: Path, served: Served, *arguments: str, output: Path | None = None) -> Run:
    options = ["-o", str(output)] if output is not None else []
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "credit_risk.outcomes",
            "--monitoring-dir",
            str(store),
            "--records",
            str(served.monitoring_dir),
            *arguments,
            *options,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    report = output / "outcomes.json" if output is not None else None
    figures = json.loads(report.read_text()) if report is not None and report.exists() else None
    return Run(result.returncode, result.stdout + result.stderr, figures)


def _write_outcomes(path: Path, ids: list[str], defaulted: list[int]) -> Path:
    with path.open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["decision_id", "defaulted", "observed_at"])
        writer.writerows(
            (i, d, "2027-12-01T00:00:00Z") for i, d in zip(ids, defaulted, strict=True)
        )
    return path


def test_true_labels_give_the_served_auc_and_reloading_changes_nothing(
    tmp_path: Path, served: Served
) -> None:
    labels = _write_outcomes(
        tmp_path / "labels.csv", served.decision_ids, served.defaulted.astype(int).tolist()
    )
    store = tmp_path / "store"
    first = _outcomes(store, served, "load", str(labels))
    assert first.code == 0, first.output
    assert "891 rows, 891 new, 0 already known, 0 invalid, 0 conflicts, 0 unknown ids" in (
        first.output
    )
    report = _outcomes(store, served, "report", output=tmp_path / "r1")
    assert report.code in (0, 1), report.output
    assert report.figures is not None
    expected = roc_auc_score(served.defaulted, served.probabilities)
    assert abs(report.figures["overall"]["auc"] - expected) < 1e-9
    assert report.figures["counts"]["joined"] == 891
    assert report.figures["counts"]["decisions"] == 891

    again = _outcomes(store, served, "load", str(labels))
    assert again.code == 0, again.output
    assert "891 rows, 0 new, 891 already known, 0 invalid, 0 conflicts" in again.output
    after = _outcomes(store, served, "report", output=tmp_path / "r2")
    assert after.figures is not None
    for key in ("overall", "models", "vintages", "fairness"):
        assert after.figures[key] == report.figures[key], key
    assert after.figures["counts"] == report.figures["counts"]

    flipped = served.decision_ids[7]
    conflicting = _write_outcomes(tmp_path / "late.csv", [flipped], [1 - int(served.defaulted[7])])
    conflict = _outcomes(store, served, "load", str(conflicting))
    assert conflict.code == 1, conflict.output
    assert f"conflict: {flipped} stored {int(served.defaulted[7])}" in conflict.output
    kept = _outcomes(store, served, "report", output=tmp_path / "r3")
    assert kept.figures is not None
    assert kept.figures["overall"]["auc"] == report.figures["overall"]["auc"]
    assert kept.figures["counts"]["conflicts"] == 1


def _simulated_report(tmp_path: Path, served: Served, outcomes: Path, *options: str) -> Run:
    """Outcomes drawn by ``simulate`` (with ``options``), loaded, then the report."""
    drawn = _outcomes(tmp_path / "s", served, "simulate", "--seed", "1", *options, output=outcomes)
    assert drawn.code == 0, drawn.output
    store = tmp_path / "store"
    assert _outcomes(store, served, "load", str(outcomes)).code == 0
    report = _outcomes(store, served, "report", output=tmp_path / "r")
    assert report.figures is not None, report.output
    return report


def test_outcomes_from_doubled_risk_act_and_name_the_bands(tmp_path: Path, served: Served) -> None:
    report = _simulated_report(tmp_path, served, tmp_path / "doubled.csv", "--risk-factor", "2")
    assert report.code == 2, report.output
    assert report.figures is not None
    (model,) = report.figures["models"]
    acting = [b["label"] for b in model["bands"] if b["verdict"] == "act"]
    assert acting, model["bands"]
    assert set(acting) <= set(model["failing_bands"])
    for label in acting:
        assert label in report.output
        band = next(b for b in model["bands"] if b["label"] == label)
        assert band["realised"] > band["expected"]


def test_outcomes_from_the_model_own_risk_are_sound(tmp_path: Path, served: Served) -> None:
    report = _simulated_report(tmp_path, served, tmp_path / "honest.parquet")
    assert report.code == 0, report.output
    assert report.figures is not None
    assert report.figures["verdict"] == "sound"
    assert report.figures["reasons"] == []
