"""The shared encoding: one application and a batch give identical vectors."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from credit_risk.features import (
    FEATURE_NAMES,
    FEATURE_SOURCES,
    MONOTONE_CONSTRAINTS,
    NUMERIC_FEATURE_INDICES,
    encode_application,
    encode_applications,
    encode_columns,
    encode_numeric_columns,
)
from credit_risk.schema import COURSE_EXAMPLE, CreditApplication, application_records
from credit_risk.vocabulary import APPLICATION_FIELDS


def test_single_and_batch_encodings_are_identical(course_frame: pd.DataFrame) -> None:
    applications = [CreditApplication(**record) for record in application_records(course_frame)]
    singles = np.asarray([encode_application(a) for a in applications], dtype=np.float32)
    batch = encode_applications(applications)
    np.testing.assert_array_equal(singles, batch)
    # ...and the API path equals the training path on the frame itself.
    np.testing.assert_array_equal(batch, encode_columns(course_frame))


def test_course_example_vector() -> None:
    vector = dict(
        zip(FEATURE_NAMES, encode_application(CreditApplication(**COURSE_EXAMPLE)), strict=True)
    )
    assert math.isnan(vector["income"])  # 0 means not declared
    assert vector["home=owner"] == 1.0 and vector["home=rent"] == 0.0
    assert vector["loan_to_value"] == 0.8
    assert vector["installment"] == 800 / 36
    assert math.isnan(vector["installment_to_income"])
    assert vector["net_assets"] == 57000.0
    assert sum(v for k, v in vector.items() if k.startswith("job=")) == 1.0


def test_zero_denominators_are_missing_not_infinite() -> None:
    application = CreditApplication(**{**COURSE_EXAMPLE, "assets": 0.0, "income": None})
    vector = dict(zip(FEATURE_NAMES, encode_application(application), strict=True))
    assert math.isnan(vector["debt_to_assets"])
    assert not any(math.isinf(v) for v in vector.values())


def test_every_feature_maps_to_application_fields() -> None:
    assert set(FEATURE_SOURCES) == set(FEATURE_NAMES)
    assert {f for sources in FEATURE_SOURCES.values() for f in sources} == set(APPLICATION_FIELDS)
    assert set(MONOTONE_CONSTRAINTS) <= set(FEATURE_NAMES)


def test_extreme_values_stay_finite_in_float32() -> None:
    # Found by schemathesis: a price of 5e-324 overflowed amount/price to inf, a 500.
    application = CreditApplication(**{**COURSE_EXAMPLE, "price": 5e-324, "income": 1e-300})
    single = np.asarray(encode_application(application), dtype=np.float32)
    batch = encode_applications([application])[0]
    assert not np.isinf(single).any()
    np.testing.assert_array_equal(single, batch)


def test_numeric_columns_are_those_of_encode_columns(course_frame: pd.DataFrame) -> None:
    # The audits move one numeric field of many rows through this path: it must be
    # encode_columns' own numbers, undeclared income, zero denominators and extremes too.
    extremes = pd.DataFrame(
        [
            {**COURSE_EXAMPLE, "income": 1e-300, "price": 5e-324, "assets": 0.0},
            {**COURSE_EXAMPLE, "income": None, "assets": None, "debt": None},
            {**COURSE_EXAMPLE, "income": 1e9, "amount": 1e9, "expenses": 1e9},
        ]
    )
    for frame in (course_frame, extremes):
        np.testing.assert_array_equal(
            encode_numeric_columns(frame),
            encode_columns(frame)[:, list(NUMERIC_FEATURE_INDICES)],
        )
    assert [FEATURE_NAMES[i] for i in NUMERIC_FEATURE_INDICES] == [
        name for name in FEATURE_NAMES if "=" not in name
    ]
