"""The serving side of the shadow: whatever the challenger does, the request's rows get
their fields, and the metrics count pairs of statuses or failures."""

from __future__ import annotations

import asyncio

import numpy as np
import numpy.typing as npt
import pytest
from prometheus_client import REGISTRY

from credit_risk.serving import metrics
from credit_risk.serving.shadow import Shadow


def _failures() -> float:
    return REGISTRY.get_sample_value("credit_challenger_failures_total") or 0.0


async def _raises(_rows: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    raise MemoryError("the challenger ran out")


def _fixed(values: list[float]):  # type: ignore[no-untyped-def]
    async def probabilities(_rows: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        return np.asarray(values, dtype=np.float32)

    return probabilities


ROWS = np.zeros((3, 4), dtype=np.float32)


def test_a_raising_challenger_gives_failed_fields_and_is_counted(trained_model: str) -> None:
    before = _failures()
    fields = asyncio.run(Shadow(trained_model, _raises).fields(ROWS, ["APPROVED"] * 3))
    assert [f["model_tag"] for f in fields] == [trained_model] * 3
    assert all("MemoryError" in f["error"] and "status" not in f for f in fields)
    assert _failures() - before == 3


def test_a_challenger_answering_too_few_rows_has_failed(trained_model: str) -> None:
    before = _failures()
    fields = asyncio.run(Shadow(trained_model, _fixed([0.1])).fields(ROWS, ["MAYBE"] * 3))
    assert all("1 scores for 3 rows" in f["error"] for f in fields)
    assert _failures() - before == 3


def test_a_missing_challenger_never_raises(trained_model: str) -> None:
    missing = Shadow("credit_risk_model:doesnotexist", _fixed([0.1, 0.2, 0.3]))
    fields = asyncio.run(missing.fields(ROWS, ["MAYBE"] * 3))
    assert all(f["error"].startswith("not loaded") for f in fields)


@pytest.mark.parametrize("probability", [0.01, 0.99])
def test_scored_rows_are_counted_by_both_statuses(trained_model: str, probability: float) -> None:
    shadow = Shadow(trained_model, _fixed([probability] * 3))
    fields = asyncio.run(shadow.fields(ROWS, ["MAYBE"] * 3))
    status = fields[0]["status"]
    assert status == ("APPROVED" if probability < 0.5 else "DECLINED")
    labels = {"champion_status": "MAYBE", "challenger_status": status, "agreement": "disagreed"}
    before = REGISTRY.get_sample_value("credit_challenger_decisions_total", labels) or 0.0
    asyncio.run(shadow.fields(ROWS, ["MAYBE"] * 3))
    after = REGISTRY.get_sample_value("credit_challenger_decisions_total", labels)
    assert after == before + 3
    assert metrics.AGREED != metrics.DISAGREED
