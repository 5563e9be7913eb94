"""Reason codes: one table of code and text per field, and the ranking of reasons."""

from __future__ import annotations

import numpy as np

from credit_risk.policy import PROTECTED_FIELDS
from credit_risk.reasons import (
    FIELD_REASONS,
    MAX_REASONS,
    REASON_CODES,
    principal_reason_columns,
    principal_reason_fields,
)
from credit_risk.schema import Reason
from credit_risk.vocabulary import APPLICATION_FIELDS


def test_every_field_has_one_code_and_text_in_field_order() -> None:
    assert set(REASON_CODES) == set(APPLICATION_FIELDS)
    assert len({code for code, _ in REASON_CODES.values()}) == len(APPLICATION_FIELDS)
    assert [reason["field"] for reason in FIELD_REASONS] == list(APPLICATION_FIELDS)
    for reason in FIELD_REASONS:
        assert (reason["code"], reason["text"]) == REASON_CODES[reason["field"]]
        assert list(reason) == [name for name in Reason.model_fields if name != "contribution"]


def test_reasons_are_the_largest_positive_contributions_ties_by_name() -> None:
    contributions = [0.0] * len(APPLICATION_FIELDS)
    for name, value in {"income": 0.5, "debt": 0.5, "age": 0.2, "price": 0.9, "job": 0.1}.items():
        contributions[APPLICATION_FIELDS.index(name)] = value
    contributions[APPLICATION_FIELDS.index("home")] = -2.0
    reasons = principal_reason_fields(contributions)
    assert [r["field"] for r in reasons] == ["price", "income", "debt", "age"][:MAX_REASONS]
    assert reasons[0] == {**FIELD_REASONS[APPLICATION_FIELDS.index("price")], "contribution": 0.9}
    assert principal_reason_fields([-1.0] * len(APPLICATION_FIELDS)) == []


def test_the_vectorised_ranking_agrees_with_the_plain_one() -> None:
    rng = np.random.default_rng(11)
    contributions = np.round(rng.normal(size=(300, len(APPLICATION_FIELDS))), 1).astype(np.float32)
    fields, present = principal_reason_columns(contributions)
    for row, values in enumerate(contributions.tolist()):
        expected = [r["field"] for r in principal_reason_fields(values)]
        assert [APPLICATION_FIELDS[i] for i in fields[row][present[row]]] == expected


def test_a_protected_field_is_never_cited_even_when_a_model_scores_it() -> None:
    contributions = [0.0] * len(APPLICATION_FIELDS)
    for name, value in {"marital": 3.0, "income": 0.5, "debt": 0.4, "age": 0.2, "job": 0.1}.items():
        contributions[APPLICATION_FIELDS.index(name)] = value
    cited = [r["field"] for r in principal_reason_fields(contributions)]
    assert cited == ["income", "debt", "age", "job"]
    for field in PROTECTED_FIELDS:
        assert field not in cited
    fields, present = principal_reason_columns(np.asarray([contributions], dtype=np.float32))
    assert [APPLICATION_FIELDS[i] for i in fields[0][present[0]]] == cited
    # The audits see what the model alone would cite.
    fields, present = principal_reason_columns(
        np.asarray([contributions], dtype=np.float32), never_cited=()
    )
    assert APPLICATION_FIELDS[fields[0][0]] == "marital" and present[0][0]
