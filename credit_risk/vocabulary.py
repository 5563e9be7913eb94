"""Categorical vocabularies, field names and field kinds of a loan application.

The integer codes are those of the canonical ``CreditScoring.csv``; the labels
are what the API, the clean training frame and the reports use. The field kinds
(``INTEGER_FIELDS``, ``NULLABLE_FIELDS``) are those of ``schema.CreditApplication``,
which a unit test checks.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

Home = Literal["rent", "owner", "private", "ignore", "parents", "other", "unk"]
Marital = Literal["single", "married", "widow", "separated", "divorced", "unk"]
Records = Literal["no", "yes", "unk"]
Job = Literal["fixed", "partime", "freelance", "others", "unk"]

Status = Literal["APPROVED", "MAYBE", "DECLINED"]
"""A decision's status: the policy's outcomes, from least to most risk."""

CATEGORIES: Final[dict[str, tuple[str, ...]]] = {
    "home": get_args(Home),
    "marital": get_args(Marital),
    "records": get_args(Records),
    "job": get_args(Job),
}
"""Allowed labels per categorical field, in encoding order."""

CSV_CODES: Final[dict[str, dict[int, str]]] = {
    "status": {1: "ok", 2: "default"},
    "home": {1: "rent", 2: "owner", 3: "private", 4: "ignore", 5: "parents", 6: "other", 0: "unk"},
    "marital": {1: "single", 2: "married", 3: "widow", 4: "separated", 5: "divorced", 0: "unk"},
    "records": {1: "no", 2: "yes"},
    "job": {1: "fixed", 2: "partime", 3: "freelance", 4: "others", 0: "unk"},
}
"""Integer codes of ``CreditScoring.csv``; status 0 (unknown) is not listed and is dropped."""

APPLICATION_FIELDS: Final[tuple[str, ...]] = (
    "seniority",
    "home",
    "time",
    "age",
    "marital",
    "records",
    "job",
    "expenses",
    "income",
    "assets",
    "debt",
    "amount",
    "price",
)
"""The 13 fields of an application, in the order of the course's JSON."""

CATEGORICAL_FIELDS: Final[tuple[str, ...]] = tuple(CATEGORIES)
NUMERIC_FIELDS: Final[tuple[str, ...]] = tuple(
    name for name in APPLICATION_FIELDS if name not in CATEGORIES
)
"""The 9 numeric fields, in application order: seniority, time, age, then money."""

INTEGER_FIELDS: Final[tuple[str, ...]] = ("seniority", "time", "age")
"""Numeric fields the API takes as integers; the other numeric fields are money (floats)."""

NULLABLE_FIELDS: Final[tuple[str, ...]] = ("income", "assets", "debt")
"""Fields an application may leave undeclared (``None``; 99999999 in ``CreditScoring.csv``)."""

FIELD_DIRECTIONS: Final[dict[str, int]] = {
    "seniority": -1,
    "income": -1,
    "assets": -1,
    "records": 1,
    "amount": 1,
}
"""Where domain sense fixes how a field moves the default risk, everything else equal:
-1, more of it never raises the risk; +1, more of it never lowers it. For ``records``,
"yes" counts above "no" (``unk`` is in no order); for ``amount``, everything else
includes the price: a larger loan for the same goods. ``MONOTONE_CONSTRAINTS`` in
``features`` constrains encoded features; these are the fields' directions, which
``credit_risk.model.audit`` proves on a trained model, derived features included."""

ORDERED_LABELS: Final[dict[str, tuple[str, str]]] = {"records": ("no", "yes")}
"""The two labels of a categorical field with a direction, from less to more."""
