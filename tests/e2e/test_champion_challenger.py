"""Champion and challenger under a real ``bentoml serve``: training changes nothing served,
the challenger is in every record and equals what it answers as champion, a challenger
that is missing or refuses to load changes no answer and no status code, score.py records
the challenger too, and promotion and rollback (python -m credit_risk.governance) are
recorded and change the served tag."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import bentoml
import httpx
import pandas as pd
import pytest

from credit_risk.records import read_records
from credit_risk.schema import COURSE_EXAMPLE, application_records
from credit_risk.training.data import Dataset
from credit_risk.training.recipes import DEFAULT_RECIPE, course_split
from credit_risk.vocabulary import APPLICATION_FIELDS
from tests.support.models import store_version
from tests.support.servers import ROOT, Server, start_server
from tests.support.training import run_governance

SINGLES: Final = 20
BATCH: Final = 300
CSV_ROWS: Final = 40
CHALLENGER_RECIPE: Final = DEFAULT_RECIPE.with_params(max_depth=2, eta=0.1, rounds=150)
"""Another recipe: a challenger that disagrees with the champion on some applications."""


@pytest.fixture(scope="module")
def applications(course_frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The course's test split, as the API takes it."""
    return application_records(course_split(course_frame)[1])


@pytest.fixture(scope="module")
def challenger(trained_model: str, course_frame: pd.DataFrame) -> Iterator[str]:
    """A new version of another recipe (for a while ``latest``), deleted at the end."""
    tag = store_version(trained_model, course_frame, CHALLENGER_RECIPE)
    yield tag
    bentoml.models.delete(tag)


def _csv(applications: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=APPLICATION_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: "" if v is None else v for k, v in a.items()} for a in applications)
    return out.getvalue()


def _every_endpoint(server: Server, applications: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Send singles, a batch and a CSV body; the decisions in the order sent (the CSV's
    rows with their CSV columns: status, default_probability, score, decision_id...)."""
    decisions = []
    with httpx.Client(base_url=server.url, timeout=60) as client:
        for application in applications[:SINGLES]:
            answer = client.post("/classify", json=application)
            assert answer.status_code == 200, answer.text
            decisions.append(answer.json())
        batch = client.post("/classify_batch", json={"applications": applications[:BATCH]})
        assert batch.status_code == 200, batch.text
        decisions += batch.json()["decisions"]
        answer = client.post(
            "/classify_csv",
            content=_csv(applications[:CSV_ROWS]),
            headers={"content-type": "text/csv"},
        )
        assert answer.status_code == 200, answer.text
    for row in csv.DictReader(io.StringIO(answer.text)):
        decisions.append(
            {
                **row,
                "default_probability": float(row["default_probability"]),
                "score": int(row["score"]),
                "reasons": [row[f"reason_{rank}_code"] for rank in range(1, 5)],
            }
        )
    return decisions


def _records(server: Server, answers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records of ``answers``, in order (a folder reused by a port seen before may
    hold other servers' records too)."""
    records = {r["decision_id"]: r for r in read_records(server.monitoring_dir).records}
    return [records[answer["decision_id"]] for answer in answers]


def _model_tag(server: Server) -> str:
    return str(httpx.post(f"{server.url}/model", json={}, timeout=30).json()["model_tag"])


def test_training_a_new_version_changes_nothing_served(
    tmp_root: Path, trained_model: str, course_frame: pd.DataFrame
) -> None:
    first = start_server(tmp_root, "embedded")
    try:
        assert _model_tag(first) == trained_model
    finally:
        first.stop()
    newer = store_version(trained_model, course_frame, CHALLENGER_RECIPE)
    try:
        assert str(bentoml.models.get("credit_risk_model:latest").tag) == newer
        again = start_server(tmp_root, "embedded")
        try:
            assert _model_tag(again) == trained_model
        finally:
            again.stop()
    finally:
        bentoml.models.delete(newer)


@pytest.mark.parametrize("topology", ["embedded", "remote"])
def test_the_challenger_is_in_every_record_as_it_answers_when_champion(
    tmp_root: Path,
    trained_model: str,
    challenger: str,
    applications: list[dict[str, Any]],
    topology: str,
) -> None:
    shadowed = start_server(
        tmp_root, topology, extra_env={"CREDIT_RISK_CHALLENGER_TAG": challenger}
    )
    try:
        answers = _every_endpoint(shadowed, applications)
        metrics = httpx.get(f"{shadowed.url}/metrics", timeout=30).text
    finally:
        shadowed.stop()
    records = _records(shadowed, answers)
    assert len(records) == SINGLES + BATCH + CSV_ROWS
    assert {r["model_tag"] for r in records} == {trained_model}
    assert {r["challenger"]["model_tag"] for r in records} == {challenger}
    assert all(
        set(r["challenger"]) == {"model_tag", "status", "default_probability", "score"}
        for r in records
    )
    # The answers are the champion's: the challenger is only in the records.
    for answer, record in zip(answers, records, strict=True):
        assert (answer["status"], answer["score"]) == (record["status"], record["score"])
        assert not any(key.startswith("challenger") for key in answer)
    disagreements = sum(r["status"] != r["challenger"]["status"] for r in records)
    assert 0 < disagreements < len(records)
    assert 'credit_challenger_decisions_total{agreement="disagreed"' in metrics

    # The same applications with the challenger as champion: the same figures.
    as_champion = start_server(tmp_root, topology, extra_env={"CREDIT_RISK_MODEL_TAG": challenger})
    try:
        answers_as_champion = _every_endpoint(as_champion, applications)
    finally:
        as_champion.stop()
    shadow = [record["challenger"] for record in records]
    assert [(s["status"], s["default_probability"], s["score"]) for s in shadow] == [
        (a["status"], a["default_probability"], a["score"]) for a in answers_as_champion
    ]
    assert {a["model_tag"] for a in answers_as_champion} == {challenger}


@pytest.fixture(scope="module")
def incompatible(trained_model: str) -> Iterator[str]:
    """A stored model whose metadata this code refuses to load."""
    with bentoml.models.create("credit_risk_incompatible", metadata={"features": ["x"]}) as model:
        pass
    yield str(model.tag)
    bentoml.models.delete(model.tag)


@pytest.mark.parametrize("kind", ["missing", "incompatible"])
def test_a_challenger_that_cannot_score_changes_no_answer(
    tmp_root: Path,
    trained_model: str,
    incompatible: str,
    applications: list[dict[str, Any]],
    kind: str,
) -> None:
    tag = "credit_risk_model:doesnotexist" if kind == "missing" else incompatible
    plain = start_server(tmp_root, "embedded")
    try:
        expected = _every_endpoint(plain, applications)
    finally:
        plain.stop()
    broken = start_server(tmp_root, "embedded", extra_env={"CREDIT_RISK_CHALLENGER_TAG": tag})
    try:
        answers = _every_endpoint(broken, applications)
        metrics = httpx.get(f"{broken.url}/metrics", timeout=30).text
    finally:
        broken.stop()

    def figures(decisions: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        return [
            (d["status"], d["default_probability"], d["score"], d["reasons"]) for d in decisions
        ]

    assert figures(answers) == figures(expected)
    records = _records(broken, answers)
    assert len(records) == SINGLES + BATCH + CSV_ROWS
    assert all(
        r["challenger"]["model_tag"] == tag and r["challenger"]["error"].startswith("not loaded")
        for r in records
    )
    failures = [
        line
        for line in metrics.splitlines()
        if line.startswith("credit_challenger_failures_total ")
    ]
    assert failures and float(failures[0].split()[1]) == SINGLES + BATCH + CSV_ROWS
    # One line per API worker that answered (one or both of the two) when its challenger
    # first failed, not one per request.
    assert 1 <= broken.log().count("decisions go on without it") <= 2


def test_promotion_and_rollback_are_recorded_and_change_the_served_tag(
    tmp_root: Path, trained_model: str, course_frame: pd.DataFrame, training_data: Dataset
) -> None:
    # A retrained version of the same recipe: as good, so the gate lets it through.
    retrained = store_version(trained_model, course_frame, DEFAULT_RECIPE)
    release_file = tmp_root / "promotion" / "release.json"
    monitoring = tmp_root / "promotion" / "monitoring"
    env = {"CREDIT_RISK_RELEASE_FILE": str(release_file)}
    try:
        run_governance("name", "--champion", trained_model, "--challenger", retrained, env=env)
        run_governance(
            "gate",
            "--data-dir",
            str(training_data.path.parent),
            "--resamples",
            "300",
            "-o",
            str(tmp_root / "promotion" / "gate"),
            env=env,
        )
        evidence = tmp_root / "promotion" / "gate" / "gate.json"
        assert json.loads(evidence.read_text())["verdict"] == "promote"
        acts_env = ("--monitoring-dir", str(monitoring), "--operator", "A. Reviewer")
        run_governance(
            "promote", *acts_env, "--reason", "as good", "--evidence", str(evidence), env=env
        )

        server = start_server(tmp_root, "embedded", extra_env=env)
        try:
            assert _model_tag(server) == retrained
            answer = httpx.post(f"{server.url}/classify", json=COURSE_EXAMPLE, timeout=30).json()
        finally:
            server.stop()
        [record] = _records(server, [answer])
        assert record["challenger"]["model_tag"] == trained_model  # the old champion shadows

        run_governance("rollback", *acts_env, "--reason", "complaints", env=env)
        server = start_server(tmp_root, "embedded", extra_env=env)
        try:
            assert _model_tag(server) == trained_model
        finally:
            server.stop()
        acts = [
            json.loads(line)
            for line in (monitoring / "governance" / "acts.jsonl").read_text().splitlines()
        ]
        assert [(a["act"], a["old_champion"], a["new_champion"]) for a in acts] == [
            ("promote", trained_model, retrained),
            ("rollback", retrained, trained_model),
        ]
        assert {a["operator"] for a in acts} == {"A. Reviewer"}
        assert acts[0]["evidence"]["verdict"] == "promote"
    finally:
        bentoml.models.delete(retrained)


def _score_py(portfolio: Path, output: Path, records: Path, *args: str) -> list[dict[str, Any]]:
    """score.py as a user runs it; the output's rows."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "score.py"), str(portfolio), "-o", str(output), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "CREDIT_RISK_MONITORING_DIR": str(records)},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    with output.open() as file:
        return list(csv.DictReader(file))


def test_score_py_records_the_challenger_as_it_scores_when_champion(
    tmp_root: Path, trained_model: str, challenger: str, applications: list[dict[str, Any]]
) -> None:
    folder = tmp_root / "score-challenger"
    folder.mkdir()
    portfolio = folder / "portfolio.csv"
    portfolio.write_text(_csv(applications[:BATCH]))
    shadowed = _score_py(
        portfolio, folder / "shadowed.csv", folder / "records", "--challenger", challenger
    )
    as_champion = _score_py(
        portfolio, folder / "champion.csv", folder / "records-c", "--model", challenger
    )
    records = {r["decision_id"]: r for r in read_records(folder / "records").records}
    shadow = [records[row["decision_id"]]["challenger"] for row in shadowed]
    assert {row["model_tag"] for row in shadowed} == {trained_model}
    assert [
        (s["model_tag"], s["status"], s["default_probability"], s["score"]) for s in shadow
    ] == [
        (row["model_tag"], row["status"], float(row["default_probability"]), int(row["score"]))
        for row in as_champion
    ]


def test_score_py_on_spark_records_the_challenger_too(
    java: None, tmp_root: Path, challenger: str, applications: list[dict[str, Any]]
) -> None:
    folder = tmp_root / "spark-challenger"
    folder.mkdir()
    portfolio = folder / "portfolio.csv"
    portfolio.write_text(_csv(applications[:BATCH]))
    as_champion = _score_py(
        portfolio, folder / "champion.csv", folder / "records-c", "--model", challenger
    )
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "score.py"),
            "--spark",
            "--master",
            "local[1]",
            str(portfolio),
            "-o",
            str(folder / "spark-decisions.csv"),
            "--challenger",
            challenger,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**os.environ, "CREDIT_RISK_MONITORING_DIR": str(folder / "records")},
    )
    assert result.returncode == 0, result.stdout + result.stderr[-5000:]
    shadow = [r["challenger"] for r in read_records(folder / "records").records]
    # Decision ids differ between the runs: the same scores, as a multiset.
    assert sorted(
        (s["model_tag"], s["status"], s["default_probability"], s["score"]) for s in shadow
    ) == sorted(
        (row["model_tag"], row["status"], float(row["default_probability"]), int(row["score"]))
        for row in as_champion
    )
