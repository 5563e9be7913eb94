"""A protected field among the principal reasons: counted as the service cites it."""

from __future__ import annotations

import numpy as np
import pandas as pd

from credit_risk.decisions import DecisionMaker
from credit_risk.model.audit.applications import Applications
from credit_risk.model.audit.protected import cited_field, reason_mask
from credit_risk.model.store import ServedModel
from credit_risk.training.data import Dataset
from tests.conftest import CANONICAL_SHA256
from tests.unit.model.audit.models import BLIND_TO_PROTECTED_AND_AGE, SmallModel, small_model


def test_the_served_model_cites_marital_status_as_its_decisions_do(
    served: ServedModel, data: Applications, training_data: Dataset
) -> None:
    scored = served.explain(data.encoded)
    cited = cited_field(scored, "marital")
    assert cited.rows == len(data) and not cited.holds
    # The decisions the service answers with, on the same rows, cite the same ones.
    decider = DecisionMaker(served.tag, served.policy, served.training_ranges)
    answers = decider.decide_columns(data.encoded, scored).answers()
    citing = [any(r["field"] == "marital" for r in a["reasons"]) for a in answers]
    np.testing.assert_array_equal(reason_mask(scored, "marital"), citing)
    assert cited.max_contribution > 0
    if training_data.sha256 == CANONICAL_SHA256:
        assert cited.citing == 490  # issue 23's figure, on the canonical data


def test_a_model_that_never_sees_marital_status_never_cites_it(
    compliant: SmallModel, data: Applications
) -> None:
    cited = cited_field(compliant.explain(data.encoded), "marital")
    assert cited.holds and cited.citing == 0 and cited.max_contribution == 0.0
    # ...while fields it does see are cited: the count is not zero by construction.
    assert not cited_field(compliant.explain(data.encoded), "income").holds


def test_a_model_that_scores_marital_status_is_caught(course_frame: pd.DataFrame) -> None:
    # Single applicants default (on purpose), whatever else they declare.
    single = (course_frame["marital"] == "single").to_numpy()
    model = small_model(course_frame, single, blind=BLIND_TO_PROTECTED_AND_AGE[-2:])
    data = Applications.from_columns(course_frame)
    cited = cited_field(model.explain(data.encoded), "marital")
    assert cited.citing >= single.sum() * 0.9
