"""The audits together: a model that keeps every property passes, one that does not fails,
and the report says which property, per population."""

from __future__ import annotations

import json

import numpy as np

from credit_risk.model.audit.applications import Applications
from credit_risk.model.audit.report import (
    SWEEP_DOMAIN,
    AuditReport,
    audit_population,
    income_sweep,
)
from credit_risk.model.store import ServedModel
from credit_risk.vocabulary import FIELD_DIRECTIONS
from tests.unit.model.audit.models import SmallModel


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


def test_the_served_model_fails_each_property_and_the_report_says_which(
    served: ServedModel, data: Applications
) -> None:
    sample = data.take(np.arange(0, len(data), 9))
    population = audit_population("data", sample, served)
    sweep = income_sweep(data, served)
    assert sweep.rows == 500 and sweep.domain == (SWEEP_DOMAIN.low, SWEEP_DOMAIN.high)
    report = AuditReport(served.tag, [population], sweep, {}, 0.0)
    failures = report.failures()
    assert any("cite marital" in line for line in failures)
    assert any("elderly rule" in line for line in failures)
    for field in ("income", "amount", "assets", "seniority"):
        assert any(f"data: {field} moves against" in line for line in failures), field
    assert not any("records" in line for line in failures)
    written = report.to_json()
    assert written["passed"] is False and written["income_sweep"]["holds"] is False
    by_field = {d["field"]: d for d in written["populations"][0]["directions"]}
    assert by_field["records"]["holds"] and not by_field["income"]["holds"]
