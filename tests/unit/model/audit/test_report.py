"""The audits together: a model that keeps every property passes, the served model too,
and a model with one safeguard off fails, the report saying which property."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from credit_risk.model.audit.applications import Applications
from credit_risk.model.audit.report import (
    SWEEP_DOMAIN,
    AuditReport,
    audit_population,
    income_sweep,
)
from credit_risk.model.store import ServedModel
from credit_risk.vocabulary import FIELD_DIRECTIONS
from tests.unit.model.audit.models import (
    AGE_FREE,
    MARITAL_SCORED,
    UNCONSTRAINED,
    SmallModel,
    against_direction,
    older_default,
    single_default,
    small_model,
)

GENERATED_DIRECTIONS = 1_000
"""Generated applications whose every direction is proven here (about 10 ms each, all
five fields): the protected and elderly audits take all of them (test_protected,
test_elderly)."""


def test_a_model_that_keeps_every_property_passes(
    compliant: SmallModel, data: Applications
) -> None:
    sample = data.take(np.arange(0, len(data), 7))
    population = audit_population("data", sample, compliant)
    assert [audit.field for audit in population.directions] == list(FIELD_DIRECTIONS)
    report = AuditReport("small", [population], income_sweep(sample, compliant), {}, 0.0)
    assert report.failures() == []
    written = json.loads(json.dumps(report.to_json()))
    assert written["passed"] is True and written["populations"][0]["elderly"]["holds"] is True


def test_the_served_model_keeps_every_property_and_the_report_says_so(
    served: ServedModel, data: Applications, generated: Applications
) -> None:
    population = audit_population(
        "generated", generated.take(np.arange(GENERATED_DIRECTIONS)), served
    )
    assert population.rows == GENERATED_DIRECTIONS and population.elderly.rows > 20
    sweep = income_sweep(data, served)
    assert sweep.rows == 500 and sweep.domain == (SWEEP_DOMAIN.low, SWEEP_DOMAIN.high)
    report = AuditReport(served.tag, [population], sweep, {}, 0.0)
    assert report.failures() == []
    written = json.loads(json.dumps(report.to_json()))
    assert written["passed"] is True and written["income_sweep"]["holds"] is True
    audited = written["populations"][0]
    assert audited["protected"]["citing"] == 0 and audited["elderly"]["holds"]
    assert all(d["holds"] and d["violating"] == 0 for d in audited["directions"])


@pytest.mark.parametrize("broken", ["marital", "elderly", *FIELD_DIRECTIONS])
def test_a_model_with_a_safeguard_off_fails_and_the_report_says_which(
    course_frame: pd.DataFrame, data: Applications, broken: str
) -> None:
    if broken == "marital":
        model = small_model(course_frame, single_default(course_frame), MARITAL_SCORED)
        expected = "cite marital"
    elif broken == "elderly":
        model = small_model(course_frame, older_default(course_frame), AGE_FREE)
        expected = "the elderly rule fails"
    else:
        model = small_model(course_frame, against_direction(course_frame, broken), UNCONSTRAINED)
        expected = f"data: {broken} moves against"
    sample = data.take(np.arange(0, len(data), 13))
    fields = (broken,) if broken in FIELD_DIRECTIONS else tuple(FIELD_DIRECTIONS)
    population = audit_population("data", sample, model, fields=fields)
    report = AuditReport("small", [population], None, {}, 0.0)
    failures = report.failures()
    assert any(expected in line for line in failures), failures
    if broken in ("marital", "elderly"):
        # The other safeguards stay on: nothing else fails.
        assert len(failures) == 1, failures
    written = report.to_json()
    assert written["passed"] is False and written["failures"] == failures
