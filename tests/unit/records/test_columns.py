"""Records written from columns: the lines of ``decision_lines`` byte for byte, with and
without the challenger's field, for few decisions and many."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from credit_risk.records.columns import COLUMN_WISE_FROM, record_lines
from credit_risk.records.format import application_rows, decision_lines
from credit_risk.vocabulary import APPLICATION_FIELDS, CATEGORIES
from tests.unit.test_decision_json import decided_batch


def _applications(rows: int) -> dict[str, list[Any]]:
    """Columns as ``application_columns`` gives them: ints, floats or None, labels."""
    columns: dict[str, list[Any]] = {}
    for index, name in enumerate(APPLICATION_FIELDS):
        if name in CATEGORIES:
            labels = CATEGORIES[name]
            columns[name] = [labels[(row + index) % len(labels)] for row in range(rows)]
        elif name in ("seniority", "time", "age"):
            columns[name] = [18 + (row * 7 + index) % 80 for row in range(rows)]
        else:
            columns[name] = [
                None if (row + index) % 5 == 0 else round(row * 1234.5678 / (index + 1), 2)
                for row in range(rows)
            ]
    return columns


def _challengers(rows: int) -> list[dict[str, Any]]:
    return [
        {"model_tag": "credit_risk_model:challenger", "status": "MAYBE", "score": 400 + row}
        if row % 3
        else {"model_tag": "credit_risk_model:challenger", "error": 'not loaded: "x"'}
        for row in range(rows)
    ]


@pytest.mark.parametrize("rows", [1, COLUMN_WISE_FROM - 1, COLUMN_WISE_FROM, 1000])
@pytest.mark.parametrize("shadowed", [False, True])
def test_record_lines_are_decision_lines(rows: int, shadowed: bool) -> None:
    decided = decided_batch(rows, seed=rows)
    applications = _applications(rows)
    challengers = _challengers(rows) if shadowed else None
    expected = decision_lines(
        application_rows(applications),
        decided.answers(),
        endpoint="/classify_batch",
        latency_ms=12.3456789,
        time="2026-12-05T23:00:00.000001Z",
        challengers=challengers,
    )
    lines = record_lines(
        applications,
        decided,
        endpoint="/classify_batch",
        latency_ms=12.3456789,
        time="2026-12-05T23:00:00.000001Z",
        challengers=challengers,
    )
    assert lines == expected
    assert all(line.endswith(b"\n") and line.count(b"\n") == 1 for line in lines)


def test_records_share_one_time_when_none_is_given() -> None:
    lines = record_lines(
        _applications(100), decided_batch(100, seed=2), endpoint="/x", latency_ms=1.0
    )
    assert len({orjson.loads(line)["time"] for line in lines}) == 1
