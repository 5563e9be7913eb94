"""Regulation B's elderly rule: every age from 18 to 61 tried for every applicant of 62+."""

from __future__ import annotations

import numpy as np
import pandas as pd

from credit_risk.features import encode_columns
from credit_risk.model.audit.applications import Applications
from credit_risk.model.audit.elderly import ELDERLY_AGE, YOUNGER_AGES, audit_elderly
from credit_risk.model.store import ServedModel
from credit_risk.training.data import Dataset
from tests.conftest import CANONICAL_SHA256
from tests.unit.model.audit.models import SmallModel, defaults, small_model


def test_the_served_model_penalises_the_elderly_for_their_age(
    served: ServedModel, data: Applications, course_frame: pd.DataFrame, training_data: Dataset
) -> None:
    audit = audit_elderly(served.explain, data, served.explain(data.encoded))
    assert audit.rows == int((course_frame["age"] >= 62).sum())
    assert not audit.holds and audit.max_age_contribution > 0 and audit.max_decrease > 0
    if training_data.sha256 == CANONICAL_SHA256:  # issue 23's figures
        assert (audit.rows, audit.risk_raising_age, audit.age_among_reasons) == (79, 69, 61)
        assert audit.lower_when_younger == 78
    # The younger ages, one by one through the service's encoding of the frame.
    elderly = course_frame[course_frame["age"] >= ELDERLY_AGE]
    own = served.explain(encode_columns(elderly))[:, 0]
    youngest = np.min(
        [served.explain(encode_columns(elderly.assign(age=age)))[:, 0] for age in YOUNGER_AGES],
        axis=0,
    )
    assert audit.lower_when_younger == int((youngest < own).sum())
    assert audit.max_decrease == float(np.max(own.astype(np.float64) - youngest))


def test_a_model_blind_to_age_keeps_the_rule(compliant: SmallModel, data: Applications) -> None:
    audit = audit_elderly(compliant.explain, data, compliant.explain(data.encoded))
    assert audit.rows > 50 and audit.holds
    assert audit.max_age_contribution == 0.0 and audit.max_decrease == 0.0


def test_a_model_that_raises_the_risk_with_age_is_caught(course_frame: pd.DataFrame) -> None:
    older = (course_frame["age"] >= 55).to_numpy() | defaults(course_frame).astype(bool)
    model = small_model(course_frame, older)
    data = Applications.from_columns(course_frame)
    audit = audit_elderly(model.explain, data, model.explain(data.encoded))
    assert audit.lower_when_younger == audit.rows > 50
    assert audit.risk_raising_age > audit.rows / 2 and audit.age_among_reasons > 0
