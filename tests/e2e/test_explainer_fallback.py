"""A model the compiled explainer refuses, served by XGBoost's own path with the same
answers, on a real server (its loading, in process: ``tests/unit/model/test_explainer.py``)."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import xgboost as xgb

from credit_risk.features import encode_columns
from credit_risk.model import xgboost_reasons
from credit_risk.reasons import principal_reasons
from credit_risk.schema import application_records
from tests.support.servers import start_server


def test_refused_model_is_served_by_xgboost_with_the_same_answers(
    tmp_root: Path, refused_model: tuple[str, xgb.Booster], course_frame: pd.DataFrame
) -> None:
    tag, booster = refused_model
    sample = course_frame.sample(120, random_state=2)
    applications = application_records(sample)
    server = start_server(tmp_root, "embedded", extra_env={"CREDIT_RISK_MODEL_TAG": tag})
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            batch = client.post("/classify_batch", json={"applications": applications})
            single = client.post("/classify", json=applications[0])
    finally:
        server.stop()
    assert batch.status_code == 200 and single.status_code == 200, batch.text + single.text
    decisions = batch.json()["decisions"]
    expected = xgboost_reasons.explain(booster, encode_columns(sample), nthread=1)
    assert {d["model_tag"] for d in decisions} == {tag}
    np.testing.assert_allclose(
        [d["default_probability"] for d in decisions], expected[:, 0], rtol=0, atol=1e-6
    )
    for decision, row in zip(decisions, expected, strict=True):
        reasons = principal_reasons(row[1:])
        assert [r["code"] for r in decision["reasons"]] == [r.code for r in reasons]
        assert [r["contribution"] for r in decision["reasons"]] == [r.contribution for r in reasons]
    assert single.json()["default_probability"] == decisions[0]["default_probability"]
    refusals = [line for line in server.log().splitlines() if "compiled explainer refused" in line]
    # One line per worker that loaded the model (two API workers, embedded).
    assert refusals and all(tag in line and "internal nodes" in line for line in refusals)
    assert "compiled explainer of" not in server.log()
