"""``python -m credit_risk.drift`` on decision records of real answers of a real server.

Record files are written here, in the decision record format, from the
applications sent to ``/classify_batch`` and the decisions it answered: the
report is tested against the format, not against whichever writer the service has.
"""

from __future__ import annotations

import json
import os
import re
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

from credit_risk.generator import SHIFTS, Shift
from credit_risk.schema import application_records
from credit_risk.vocabulary import APPLICATION_FIELDS
from tests.support.servers import ROOT, start_server

NOW = "2026-12-01T13:50:27.123456Z"
LONG_AGO = "2020-01-01T00:00:00Z"
WATCH_SHIFT = Shift(undeclared_income_share=0.16)
"""Moves the income PSI to about 0.15: the watch band."""


@dataclass(frozen=True)
class Decided:
    """Applications and the decisions the server answered for them."""

    applications: list[dict[str, Any]]
    decisions: list[dict[str, Any]]

    def lines(self, *, time: str = NOW, model_tag: str | None = None) -> list[str]:
        """Decision records, one JSON line each."""
        return [
            json.dumps(
                {
                    "decision_id": decision["decision_id"],
                    "time": time,
                    "model_tag": model_tag or decision["model_tag"],
                    "policy_version": decision["policy_version"],
                    "endpoint": "/classify_batch",
                    "application": application,
                    "status": decision["status"],
                    "default_probability": decision["default_probability"],
                    "score": decision["score"],
                    "reasons": [
                        {key: r[key] for key in ("code", "field", "contribution")}
                        for r in decision["reasons"]
                    ],
                    "out_of_training_range": decision["out_of_training_range"],
                    "latency_ms": 1.0,
                }
            )
            + "\n"
            for application, decision in zip(self.applications, self.decisions, strict=True)
        ]


def _decide(client: httpx.Client, applications: list[dict[str, Any]]) -> Decided:
    decisions: list[dict[str, Any]] = []
    for start in range(0, len(applications), 1000):
        response = client.post(
            "/classify_batch", json={"applications": applications[start : start + 1000]}
        )
        assert response.status_code == 200, response.text
        decisions.extend(response.json()["decisions"])
    return Decided(applications, decisions)


@pytest.fixture(scope="module")
def decided(
    tmp_root: Path, trained_model: str, course_frame: pd.DataFrame
) -> Iterator[dict[str, Decided]]:
    """Real decisions for rows of the canonical data: as they are, and shifted."""
    rows = application_records(course_frame)
    rng = np.random.default_rng(5)
    order = rng.permutation(len(rows))
    reference = [rows[i] for i in order[:4000]]
    others = [rows[i] for i in order[4000:]] + [rows[i] for i in order[:1600]]
    server = start_server(tmp_root, "embedded")
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            yield {
                "reference": _decide(client, reference),
                "act": _decide(client, SHIFTS["older-larger"].apply(others, rng)),
                "watch": _decide(client, WATCH_SHIFT.apply(reference, rng)),
            }
    finally:
        server.stop()


def _write(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as file:
        file.writelines(lines)
    return path


@dataclass(frozen=True)
class Run:
    """One run of the drift command."""

    code: int
    output: str
    figures: dict[str, Any] | None
    html: str | None


def _drift(tmp_path: Path, records: Path, *options: str) -> Run:
    out = tmp_path / "report"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "credit_risk.drift",
            "--records",
            str(records),
            "-o",
            str(out),
            *options,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "COLUMNS": "200"},
    )
    figures = (
        json.loads((out / "drift.json").read_text()) if (out / "drift.json").exists() else None
    )
    html = (out / "drift.html").read_text() if (out / "drift.html").exists() else None
    return Run(result.returncode, result.stdout + result.stderr, figures, html)


def _psi(figures: dict[str, Any]) -> dict[str, float]:
    return {f["field"]: f["psi"] for f in figures["fields"]}


def test_reference_decisions_are_stable_exit_0_with_a_self_contained_report(
    tmp_path: Path, decided: dict[str, Decided], trained_model: str
) -> None:
    records = _write(
        tmp_path / "monitoring" / "decisions" / "w1.jsonl", decided["reference"].lines()
    )
    run = _drift(tmp_path, records.parent.parent, "--model", trained_model)
    assert run.code == 0, run.output
    assert run.figures is not None and run.html is not None
    assert run.figures["model_tag"] == trained_model
    assert run.figures["records"]["used"] == 4000
    assert set(_psi(run.figures)) == set(APPLICATION_FIELDS)
    assert max(_psi(run.figures).values()) < 0.10, _psi(run.figures)
    assert run.figures["score"]["psi"] < 0.10
    assert run.figures["band"] == "stable"
    bins = run.figures["score"]["bins"]
    assert sum(b["current_share"] for b in bins) == pytest.approx(1.0)
    assert sum(b["reference_share"] for b in bins) == pytest.approx(1.0)
    # One file, nothing fetched: charts inline, no scripts, no stylesheets, no images.
    assert run.html.count("<svg") == len(APPLICATION_FIELDS) + 1
    assert not re.search(r"<(script|link|img|iframe)\b", run.html)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", run.html)


def test_shifted_decisions_act_on_the_shifted_fields_only_exit_2(
    tmp_path: Path, decided: dict[str, Decided], trained_model: str
) -> None:
    records = _write(tmp_path / "shifted.jsonl", decided["act"].lines())
    run = _drift(tmp_path, records, "--model", trained_model)
    assert run.code == 2, run.output
    assert run.figures is not None and run.html is not None
    psi = _psi(run.figures)
    shifted = SHIFTS["older-larger"].fields
    assert {name for name, value in psi.items() if value > 0.25} == set(shifted), psi
    assert {name for name, value in psi.items() if value >= 0.10} == set(shifted), psi
    assert set(run.figures["top_movers"][:2]) == set(shifted)
    assert run.figures["band"] == "act"
    assert "act" in run.html


def test_a_moderate_shift_is_to_watch_exit_1(
    tmp_path: Path, decided: dict[str, Decided], trained_model: str
) -> None:
    records = _write(tmp_path / "watch.jsonl", decided["watch"].lines())
    run = _drift(tmp_path, records, "--model", trained_model)
    assert run.code == 1, run.output
    assert run.figures is not None
    income = next(f for f in run.figures["fields"] if f["field"] == "income")
    assert income["band"] == "watch", income["psi"]
    assert run.figures["band"] == "watch"


def test_merged_files_truncation_garbage_other_models_and_since_are_survived_and_counted(
    tmp_path: Path, decided: dict[str, Decided], trained_model: str
) -> None:
    lines = decided["reference"].lines()
    root = tmp_path / "monitoring"
    _write(root / "decisions" / "worker-1.jsonl", lines[:2500])
    second = _write(root / "decisions" / "2026-12-01" / "worker-2.jsonl", lines[2500:])
    _write(root / "decisions" / "worker-1.jsonl", ["not json at all\n", "[1, 2]\n"])
    _write(root / "old" / "w.jsonl", decided["act"].lines(time=LONG_AGO)[:300])
    _write(
        root / "decisions" / "other.jsonl",
        decided["act"].lines(model_tag="credit_risk_model:another")[:70],
    )
    with second.open("a") as file:  # a worker killed mid-write
        file.write(decided["act"].lines()[0][:57])
    (root / "decisions" / "notes.txt").write_text("not a record file\n")

    run = _drift(tmp_path, root, "--model", trained_model, "--since", "2026-06-01T00:00:00Z")
    assert run.code == 0, run.output
    assert run.figures is not None
    assert run.figures["records"] | {"first_time": None, "last_time": None} == {
        "files": 4,
        "lines": 4000 + 2 + 300 + 70 + 1,
        "used": 4000,
        "partial": 1,
        "unreadable": 2,
        "before_since": 300,
        "duplicates": 0,
        "other_models": {"credit_risk_model:another": 70},
        "first_time": None,
        "last_time": None,
    }
    assert run.figures["records"]["first_time"] == NOW
    # The same decisions as in one clean file give the same figures.
    clean = _drift(
        tmp_path / "clean", _write(tmp_path / "clean.jsonl", lines), "--model", trained_model
    )
    assert clean.figures is not None
    assert _psi(run.figures) == pytest.approx(_psi(clean.figures), rel=1e-12)
    assert "1 partial" in run.output and "70 of other models" in run.output


def test_nothing_to_compare_exits_3_with_a_reason(
    tmp_path: Path, decided: dict[str, Decided], trained_model: str
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    run = _drift(tmp_path, empty, "--model", trained_model)
    assert (run.code, run.figures) == (3, None)
    assert "No decision records" in run.output

    others = _write(
        tmp_path / "others" / "a.jsonl",
        decided["reference"].lines(model_tag="credit_risk_model:another")[:10],
    )
    run = _drift(tmp_path, others.parent, "--model", trained_model)
    assert run.code == 3
    assert "credit_risk_model:another (10)" in run.output

    run = _drift(tmp_path, others.parent, "--model", "credit_risk_model:nosuchversion")
    assert run.code == 3
    assert "not in the model store" in run.output

    records = _write(tmp_path / "recent" / "a.jsonl", decided["reference"].lines()[:10])
    run = _drift(tmp_path, records.parent, "--model", trained_model, "--since", "2030-01-01")
    assert run.code == 3
    assert "since" in run.output


def test_bad_usage_exits_4_not_an_alert_code(tmp_path: Path) -> None:
    run = _drift(tmp_path, tmp_path, "--since", "yesterday")
    assert run.code == 4, run.output
    assert "not an ISO 8601 time" in run.output
