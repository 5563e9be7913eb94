"""The service over real HTTP, in both topologies: decisions, batches, load, records."""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from collections import Counter
from pathlib import Path

import bentoml
import httpx
import numpy as np
import pandas as pd
import pytest

from credit_risk.features import encode_columns
from credit_risk.model import CARD_HTML, CARD_MARKDOWN
from credit_risk.model.store import load_from_store
from credit_risk.policy import DecisionPolicy
from credit_risk.records import read_records
from credit_risk.schema import COURSE_EXAMPLE, MAX_BATCH_SIZE, Decision, application_records
from credit_risk.training.recipes import course_split
from tests.support.servers import Server, start_server


@pytest.fixture(scope="module")
def course_test_split(course_frame: pd.DataFrame) -> pd.DataFrame:
    """The course's test split (891 applications)."""
    return course_split(course_frame)[1]


def _offline(model_tag: str, frame: pd.DataFrame) -> tuple[np.ndarray, DecisionPolicy]:
    served = load_from_store(bentoml.models.get(model_tag), nthread=1)
    return served.booster.inplace_predict(encode_columns(frame)), served.policy


def test_course_sample_gets_a_full_decision(client: httpx.Client, trained_model: str) -> None:
    response = client.post("/classify", json=COURSE_EXAMPLE)
    assert response.status_code == 200, response.text
    decision = Decision.model_validate(response.json())
    probabilities, policy = _offline(decision.model_tag, pd.DataFrame([COURSE_EXAMPLE]))
    assert decision.default_probability == pytest.approx(float(probabilities[0]), abs=1e-6)
    assert decision.status == policy.status(decision.default_probability)
    assert decision.score == policy.scorecard.points(decision.default_probability)
    assert decision.policy_version == policy.version
    assert 1 <= len(decision.reasons) <= 4
    assert all(r.code.startswith("R") and r.text and r.contribution > 0 for r in decision.reasons)
    contributions = [r.contribution for r in decision.reasons]
    assert contributions == sorted(contributions, reverse=True)
    assert decision.out_of_training_range == []
    uuid.UUID(decision.decision_id)


def test_whole_course_test_split_matches_offline_model(
    server: Server, client: httpx.Client, course_test_split: pd.DataFrame
) -> None:
    applications = application_records(course_test_split)
    singles = asyncio.run(_post_all(server.url, "/classify", applications, concurrency=16))
    assert all(r.status_code == 200 for r in singles), [r.text for r in singles[:3]]
    batch = client.post("/classify_batch", json={"applications": applications})
    assert batch.status_code == 200, batch.text
    batch_decisions = batch.json()["decisions"]
    model_tag = batch_decisions[0]["model_tag"]
    expected, policy = _offline(model_tag, course_test_split)
    for decisions in ([r.json() for r in singles], batch_decisions):
        assert len(decisions) == len(expected) == 891
        served = np.array([d["default_probability"] for d in decisions])
        np.testing.assert_allclose(served, expected, rtol=0, atol=1e-6)
        assert [d["status"] for d in decisions] == [policy.status(float(p)) for p in expected]
        assert {d["model_tag"] for d in decisions} == {model_tag}


def test_batch_keeps_order(client: httpx.Client, course_test_split: pd.DataFrame) -> None:
    applications = application_records(course_test_split.sample(200, random_state=3))
    singles = [client.post("/classify", json=a).json() for a in applications[:20]]
    batch = client.post("/classify_batch", json={"applications": applications}).json()["decisions"]
    assert len(batch) == 200
    for single, batched in zip(singles, batch, strict=False):
        assert batched["default_probability"] == pytest.approx(
            single["default_probability"], abs=1e-6
        )
    reversed_batch = client.post(
        "/classify_batch", json={"applications": applications[::-1]}
    ).json()["decisions"]
    assert [d["default_probability"] for d in reversed_batch] == pytest.approx(
        [d["default_probability"] for d in batch[::-1]], abs=1e-6
    )
    assert len({d["decision_id"] for d in batch}) == 200


def test_batch_limit(client: httpx.Client) -> None:
    at_limit = client.post(
        "/classify_batch", json={"applications": [COURSE_EXAMPLE] * MAX_BATCH_SIZE}
    )
    assert at_limit.status_code == 200
    assert len(at_limit.json()["decisions"]) == MAX_BATCH_SIZE
    over = client.post(
        "/classify_batch", json={"applications": [COURSE_EXAMPLE] * (MAX_BATCH_SIZE + 1)}
    )
    assert over.status_code == 400
    assert "applications" in over.text and str(MAX_BATCH_SIZE) in over.text
    empty = client.post("/classify_batch", json={"applications": []})
    assert empty.status_code == 400


async def _post_all(
    url: str, path: str, bodies: list[dict[str, object]], concurrency: int
) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as http:
        semaphore = asyncio.Semaphore(concurrency)

        async def post(body: dict[str, object]) -> httpx.Response:
            async with semaphore:
                return await http.post(path, json=body)

        return await asyncio.gather(*(post(body) for body in bodies))


def test_2000_requests_from_32_concurrent_clients_all_succeed(
    server: Server, course_frame: pd.DataFrame
) -> None:
    # In the remote topology this catches BentoML's client recycling its
    # session with requests in flight (~12% HTTP 500 at the default settings).
    applications = application_records(course_frame.sample(2000, replace=True, random_state=7))
    responses = asyncio.run(_post_all(server.url, "/classify", applications, concurrency=32))
    codes = Counter(r.status_code for r in responses)
    assert codes == {200: 2000}, codes


def test_decision_records_are_written_and_parse(server: Server, client: httpx.Client) -> None:
    decisions = {
        (answer := client.post("/classify", json={**COURSE_EXAMPLE, "age": age}).json())[
            "decision_id"
        ]: answer
        for age in (30, 31, 32)
    }
    # No polling: a decision is answered only once its record is written.
    read = read_records(server.monitoring_dir)
    records = {record["decision_id"]: record for record in read.records}
    assert set(decisions) <= set(records) and read.skipped == 0
    for decision_id, answer in decisions.items():
        record = records[decision_id]
        assert record["endpoint"] == "/classify"
        assert record["application"] == {**COURSE_EXAMPLE, "age": record["application"]["age"]}
        assert record["application"]["age"] in (30, 31, 32)
        for key in ("status", "default_probability", "score", "model_tag", "policy_version"):
            assert record[key] == answer[key], key
        assert record["reasons"] == [
            {key: reason[key] for key in ("code", "field", "contribution")}
            for reason in answer["reasons"]
        ]
        assert record["out_of_training_range"] == answer["out_of_training_range"]
        assert record["time"].endswith("Z") and record["latency_ms"] > 0
        assert not math.isnan(record["default_probability"])


def test_out_of_training_range_is_accepted_and_flagged(client: httpx.Client) -> None:
    response = client.post(
        "/classify", json={**COURSE_EXAMPLE, "seniority": 90, "age": 90, "amount": 20000}
    )
    assert response.status_code == 200
    # The model reads age as min(age, 62) (Regulation B's elderly rule): 90 is a 62 it saw.
    assert response.json()["out_of_training_range"] == ["seniority", "amount"]


def test_model_card(client: httpx.Client, trained_model: str) -> None:
    card = client.post("/model", json={}).json()
    assert card["model_tag"].startswith("credit_risk_model:")
    assert card["metrics"]["cv_auc"] >= 0.85
    assert card["policy"]["decline_above"] == 0.5 and card["policy"]["review_above"] == 0.25
    assert card["proofs"]["elderly_rule"] and card["proofs"]["scored_protected_fields"] == []
    assert "marital" not in card["proofs"]["scored_fields"]
    assert card["scored_protected_fields"] == []
    assert card["fairness"]["rows"] and card["card_path"] == "/model/card"


def test_the_model_card_is_served_as_written_at_training(
    client: httpx.Client, trained_model: str
) -> None:
    stored = Path(bentoml.models.get(trained_model).path)
    for form, name in (("html", CARD_HTML), ("markdown", CARD_MARKDOWN)):
        answer = client.post("/model/card", json={"format": form})
        assert answer.status_code == 200, answer.text
        assert answer.json() == {
            "model_tag": trained_model,
            "format": form,
            "text": (stored / name).read_text(),
        }
    assert client.post("/model/card", json={}).json()["format"] == "html"
    assert client.post("/model/card", json={"format": "pdf"}).status_code == 400


def test_bentoml_endpoints_keep_working(client: httpx.Client) -> None:
    assert client.get("/livez").status_code == 200
    assert client.get("/readyz").status_code == 200
    client.post("/classify", json=COURSE_EXAMPLE)
    metrics = client.get("/metrics").text
    assert "credit_decisions_total" in metrics and "credit_default_probability" in metrics
    ui = client.get("/")
    assert ui.status_code == 200 and "swagger" in ui.text.lower()
    spec = client.get("/docs.json").json()
    body = spec["paths"]["/classify"]["post"]["requestBody"]["content"]["application/json"]
    assert COURSE_EXAMPLE in _examples(body, spec)


def _examples(body: dict, spec: dict) -> list[dict]:
    schema = body["schema"]
    if "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return [schema.get("example"), body.get("example")]


def test_python_client_example(server: Server) -> None:
    with bentoml.SyncHTTPClient(server.url) as http:
        decision = http.classify(COURSE_EXAMPLE)
    assert decision["status"] in ("APPROVED", "MAYBE", "DECLINED")


def test_server_uses_temporary_store() -> None:
    assert "credit-risk-tests-" in str(Path(bentoml.models.get("credit_risk_model:latest").path))


@pytest.mark.parametrize("tracing", [False, True], ids=["tracing-off", "tracing-on"])
def test_tracing_setting_decides_whether_requests_are_traced(
    tmp_root: Path, trained_model: str, tracing: bool
) -> None:
    # BentoML configured to sample every trace: whether a request gets a span is then
    # CREDIT_RISK_TRACING's doing alone. The access log shows the span's trace id,
    # which continues the caller's (traceparent).
    config = tmp_root / f"bentoml-tracing-{tracing}.yaml"
    config.write_text("tracing:\n  sample_rate: 1.0\n  exporter_type: in_memory\n")
    trace_id = uuid.uuid4().hex
    server = start_server(
        tmp_root,
        "embedded",
        extra_env={"CREDIT_RISK_TRACING": str(tracing).lower(), "BENTOML_CONFIG": str(config)},
    )
    try:
        headers = {"traceparent": f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01"}
        with httpx.Client(base_url=server.url, timeout=10) as http:
            assert http.post("/classify", json=COURSE_EXAMPLE, headers=headers).is_success
        deadline = time.monotonic() + 10
        while "path=/classify," not in (log := server.log_path.read_text()):
            assert time.monotonic() < deadline, "no access log line for /classify"
            time.sleep(0.1)
    finally:
        server.stop()
    (line,) = [line for line in log.splitlines() if "path=/classify," in line]
    assert (f"trace={trace_id}" in line) == tracing, line
