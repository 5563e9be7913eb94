"""Regulation B's elderly rule: every age from 18 to 61 tried for every applicant of 62+."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from credit_risk.features import encode_columns
from credit_risk.model.audit import proofs
from credit_risk.model.audit.applications import Applications
from credit_risk.model.audit.elderly import ELDERLY_AGE, YOUNGER_AGES, audit_elderly
from credit_risk.model.store import ServedModel
from tests.unit.model.audit.models import AGE_FREE, SmallModel, older_default, small_model


@pytest.mark.parametrize("population", ["data", "generated"])
def test_the_served_model_keeps_the_elderly_rule(
    served: ServedModel, data: Applications, generated: Applications, population: str
) -> None:
    applications = data if population == "data" else generated
    audit = audit_elderly(served.explain, applications, served.explain(applications.encoded))
    assert audit.rows == int((applications.numeric["age"] >= ELDERLY_AGE).sum()) > 50
    assert audit.holds, audit
    assert audit.max_age_contribution == 0.0 and audit.max_decrease == 0.0


def test_the_served_model_reads_age_and_gives_the_elderly_its_lowest_age_risk(
    served: ServedModel, course_frame: pd.DataFrame
) -> None:
    # The younger ages, one by one through the service's encoding of the frame: the
    # elderly's own probability is at most every younger one's, and age does move it.
    elderly = course_frame[course_frame["age"] >= ELDERLY_AGE]
    own = served.explain(encode_columns(elderly))[:, 0]
    younger = np.array(
        [served.explain(encode_columns(elderly.assign(age=age)))[:, 0] for age in YOUNGER_AGES]
    )
    assert (own <= younger.min(axis=0)).all()
    assert (younger.max(axis=0) > own).any()  # not blind to age: the rule means something
    # Every age from 62 up reads as 62.
    np.testing.assert_array_equal(served.explain(encode_columns(elderly.assign(age=99)))[:, 0], own)


def test_a_model_with_age_constrained_and_alone_keeps_the_rule(
    compliant: SmallModel, data: Applications
) -> None:
    audit = audit_elderly(compliant.explain, data, compliant.explain(data.encoded))
    assert audit.rows > 50 and audit.holds
    assert proofs.prove_elderly(compliant.booster).holds


def test_a_model_that_raises_the_risk_with_age_is_caught(
    course_frame: pd.DataFrame, data: Applications
) -> None:
    # Age neither constrained nor alone, and applicants from 55 default (on purpose).
    model = small_model(course_frame, older_default(course_frame), AGE_FREE)
    audit = audit_elderly(model.explain, data, model.explain(data.encoded))
    assert not audit.holds
    assert audit.lower_when_younger == audit.rows > 50
    assert audit.risk_raising_age > audit.rows / 2 and audit.age_among_reasons > 0
    assert audit.max_age_contribution > 0 and audit.max_decrease > 0
    proof = proofs.prove_elderly(model.booster)
    assert not proof.holds and proof.mixed_trees and proof.monotone
