"""Champion and challenger under a real ``bentoml serve``: training changes nothing served."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import bentoml
import httpx
import pandas as pd
import pytest

from credit_risk.records import read_records
from credit_risk.schema import application_records
from credit_risk.training.recipes import DEFAULT_RECIPE, course_split
from credit_risk.vocabulary import APPLICATION_FIELDS
from tests.support.models import store_version
from tests.support.servers import Server, start_server

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
    """Send singles, a batch and a CSV body; the JSON decisions in the order sent (the
    CSV's answers are checked for status only)."""
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
    return decisions


def _records(server: Server) -> dict[str, dict[str, Any]]:
    return {record["decision_id"]: record for record in read_records(server.monitoring_dir).records}


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
