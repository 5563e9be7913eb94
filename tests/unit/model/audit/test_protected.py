"""A protected field among the principal reasons: counted as the service cites it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from credit_risk.decisions import DecisionMaker
from credit_risk.model.audit import proofs
from credit_risk.model.audit.applications import Applications
from credit_risk.model.audit.protected import cited_field, reason_mask
from credit_risk.model.store import ServedModel
from credit_risk.policy import PROTECTED_FIELDS
from credit_risk.vocabulary import APPLICATION_FIELDS
from tests.unit.model.audit.models import (
    MARITAL_SCORED,
    SmallModel,
    single_default,
    small_model,
)


@pytest.mark.parametrize("population", ["data", "generated"])
def test_the_served_model_never_cites_marital_status(
    served: ServedModel,
    data: Applications,
    generated: Applications,
    population: str,
) -> None:
    applications = data if population == "data" else generated
    scored = served.explain(applications.encoded)
    cited = cited_field(scored, "marital")
    assert cited.rows == len(applications) and cited.holds
    assert cited.citing == 0 and cited.max_contribution == 0.0
    # Not a contribution too small to be a reason: exactly none, on every row.
    assert (scored[:, 1 + APPLICATION_FIELDS.index("marital")] == 0).all()
    # ...while the fields it does score are cited: the count is not zero by construction.
    assert cited_field(scored, "income").citing > len(applications) / 10


def test_a_model_that_never_sees_marital_status_never_cites_it(
    compliant: SmallModel, data: Applications
) -> None:
    scored = compliant.explain(data.encoded)
    cited = cited_field(scored, "marital")
    assert cited.holds and cited.citing == 0 and cited.max_contribution == 0.0
    assert not cited_field(scored, "income").holds
    assert proofs.prove(compliant.booster, PROTECTED_FIELDS).scored_protected == []


def test_a_model_that_scores_marital_status_is_caught_and_its_decisions_never_cite_it(
    course_frame: pd.DataFrame, data: Applications
) -> None:
    # Marital not hidden, and single applicants default (on purpose).
    single = single_default(course_frame).astype(bool)
    model = small_model(course_frame, single, MARITAL_SCORED)
    scored = model.explain(data.encoded)
    cited = cited_field(scored, "marital")
    assert cited.citing >= single.sum() * 0.9 and cited.max_contribution > 0
    # The decisions the service answers with, on the same rows, never cite it (the
    # audit counts what the model alone would): their reasons are the others, in order.
    ranges = {
        name: [float(np.nanmin(values)), float(np.nanmax(values))]
        for name, values in data.numeric.items()
    }
    decider = DecisionMaker("small", model.policy, ranges)
    answers = decider.decide_columns(data.encoded, scored).answers()
    assert not any(r["field"] == "marital" for a in answers for r in a["reasons"])
    assert int(reason_mask(scored, "marital").sum()) == cited.citing
    # The proof on the trees names it.
    assert proofs.prove(model.booster, PROTECTED_FIELDS).scored_protected == ["marital"]
