"""``/classify_batch`` parses its own body, column-wise: every edge body gets the status
and the body it got when BentoML validated it (recorded from the service before), in
agreement with pydantic's verdict, and a refused body leaves no record."""

from __future__ import annotations

import httpx
import orjson
import pydantic
from _bentoml_sdk.io_models import ensure_io_descriptor

from credit_risk.records import read_records
from credit_risk.schema import ApplicationBatch
from tests.support.batch_bodies import RECORDED_ANSWERS, edge_bodies
from tests.support.servers import Server

JSON = {"content-type": "application/json"}


def test_the_recorded_answers_are_pydantics_verdicts() -> None:
    """The recording agrees with pydantic now, so it still describes this schema."""
    recorded = orjson.loads(RECORDED_ANSWERS.read_bytes())
    bodies = edge_bodies()
    assert set(recorded) == set(bodies)
    descriptor = ensure_io_descriptor(ApplicationBatch)
    for name, body in bodies.items():
        try:
            descriptor.model_validate_json(body)
        except pydantic.ValidationError as refused:
            expected = {
                "error": f"{refused.error_count()} validation error for {refused.title}",
                "detail": refused.errors(include_context=False, include_input=False),
            }
            assert recorded[name]["status"] == 400, name
            assert orjson.loads(recorded[name]["body"]) == orjson.loads(orjson.dumps(expected)), (
                name
            )
        else:
            assert recorded[name]["status"] == 200, name


def _records(server: Server) -> int:
    return len(read_records(server.monitoring_dir).records)


def test_every_edge_body_gets_the_answer_it_got_before(
    server: Server, client: httpx.Client
) -> None:
    recorded = orjson.loads(RECORDED_ANSWERS.read_bytes())
    before = _records(server)
    accepted = 0
    for name, body in edge_bodies().items():
        response = client.post("/classify_batch", content=body, headers=JSON)
        expected = recorded[name]
        assert response.status_code == expected["status"], (name, response.text)
        if expected["status"] == 200:
            decisions = response.json()["decisions"]
            assert len(decisions) == len(orjson.loads(body)["applications"]), name
            accepted += len(decisions)
        else:
            assert response.text == expected["body"], name
            assert response.headers["content-type"] == "application/json", name
    # No decision without its record, and no record of a refused body.
    assert _records(server) - before == accepted
