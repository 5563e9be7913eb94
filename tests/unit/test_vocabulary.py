"""Field kinds are declared once, in the vocabulary, and agree with the API's model."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from credit_risk.features import MONOTONE_CONSTRAINTS
from credit_risk.schema import CreditApplication, application_records
from credit_risk.vocabulary import (
    APPLICATION_FIELDS,
    CATEGORIES,
    FIELD_DIRECTIONS,
    INTEGER_FIELDS,
    NULLABLE_FIELDS,
    ORDERED_LABELS,
)


def test_field_kinds_are_those_of_credit_application() -> None:
    properties = CreditApplication.model_json_schema()["properties"]
    assert tuple(properties) == APPLICATION_FIELDS
    integers = tuple(name for name, spec in properties.items() if spec.get("type") == "integer")
    nullable = tuple(
        name for name, spec in properties.items() if {"type": "null"} in spec.get("anyOf", [])
    )
    assert integers == INTEGER_FIELDS
    assert nullable == NULLABLE_FIELDS


def test_application_records_are_api_typed_whatever_holds_the_columns() -> None:
    columns = {
        "seniority": np.array([3.0, 0.0]),
        "home": np.array(["owner", "rent"], dtype=object),
        "time": np.array([36.0, 60.0]),
        "age": np.array([26.0, 40.0]),
        "marital": np.array(["single", "married"], dtype=object),
        "records": np.array(["no", "yes"], dtype=object),
        "job": np.array(["freelance", "fixed"], dtype=object),
        "expenses": np.array([35.0, 45.0]),
        "income": np.array([0.0, math.nan]),
        "assets": np.array([60000.0, math.nan]),
        "debt": np.array([3000.0, 0.0]),
        "amount": np.array([800.0, 1000.0]),
        "price": np.array([1000.0, 1200.0]),
    }
    frame = pd.DataFrame(columns).astype(
        {"home": "category", "marital": "category", "records": "category", "job": "category"}
    )
    for source in (columns, frame):
        first, second = application_records(source)
        assert list(first) == list(APPLICATION_FIELDS)
        assert CreditApplication.model_validate(first).model_dump() == first
        assert type(first["age"]) is int and type(first["amount"]) is float
        assert type(first["home"]) is str
        assert second["income"] is None and second["assets"] is None
        assert CreditApplication.model_validate(second).model_dump() == second


def test_field_directions_agree_with_the_encoded_constraints() -> None:
    # Declared once, here; the raw features that carry a field as such are constrained
    # the same way (the derived ones are the audit's business: credit_risk.model.audit).
    assert set(FIELD_DIRECTIONS) <= set(APPLICATION_FIELDS)
    assert set(FIELD_DIRECTIONS.values()) <= {-1, 1}
    for field, (less, more) in ORDERED_LABELS.items():
        assert field in FIELD_DIRECTIONS and {less, more} <= set(CATEGORIES[field])
    for field, direction in FIELD_DIRECTIONS.items():
        feature = f"{field}={ORDERED_LABELS[field][1]}" if field in ORDERED_LABELS else field
        assert MONOTONE_CONSTRAINTS.get(feature, direction) == direction, field
