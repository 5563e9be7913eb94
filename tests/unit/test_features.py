"""The shared encoding: one application and a batch give identical vectors, every
feature a field feeds moves as ``FED_FEATURE_SLOPES`` says, and age reads as at most 62."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest

from credit_risk.features import (
    ELDERLY_AGE,
    FEATURE_NAMES,
    FEATURE_SOURCES,
    FED_FEATURE_SLOPES,
    MONOTONE_CONSTRAINTS,
    NUMERIC_FEATURE_INDICES,
    encode_application,
    encode_applications,
    encode_columns,
    encode_numeric_columns,
)
from credit_risk.model.audit.directions import FIELD_DOMAINS
from credit_risk.schema import COURSE_EXAMPLE, CreditApplication, application_records
from credit_risk.vocabulary import (
    APPLICATION_FIELDS,
    CATEGORIES,
    FIELD_DIRECTIONS,
    ORDERED_LABELS,
)


def test_single_and_batch_encodings_are_identical(course_frame: pd.DataFrame) -> None:
    applications = [CreditApplication(**record) for record in application_records(course_frame)]
    singles = np.asarray([encode_application(a) for a in applications], dtype=np.float32)
    batch = encode_applications(applications)
    np.testing.assert_array_equal(singles, batch)
    # ...and the API path equals the training path on the frame itself.
    np.testing.assert_array_equal(batch, encode_columns(course_frame))


def test_labels_given_as_codes_encode_as_the_labels_do(course_frame: pd.DataFrame) -> None:
    codes = {
        field: np.asarray([labels.index(label) for label in course_frame[field]], dtype=np.int32)
        for field, labels in CATEGORIES.items()
    }
    np.testing.assert_array_equal(
        encode_columns(course_frame, label_codes=codes), encode_columns(course_frame)
    )
    for bad in (-1, len(CATEGORIES["home"])):
        spoilt = {**codes, "home": np.where(np.arange(len(course_frame)) == 7, bad, codes["home"])}
        with pytest.raises(ValueError, match="home: a code outside"):
            encode_columns(course_frame, label_codes=spoilt)


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
    assert math.isnan(vector["installment_to_income"]) and math.isnan(vector["expenses_to_income"])
    assert not any(math.isinf(v) for v in vector.values())
    # debt_share never divides by zero: at assets 0 it is the debt's share of debt + 1.
    assert vector["debt_share"] == 3000.0 / 3001.0
    no_debt = CreditApplication(**{**COURSE_EXAMPLE, "assets": 0.0, "debt": 0.0})
    assert dict(zip(FEATURE_NAMES, encode_application(no_debt), strict=True))["debt_share"] == 0
    # ...and is missing only when the debt or the assets are.
    for missing in ("debt", "assets"):
        undeclared = CreditApplication(**{**COURSE_EXAMPLE, missing: None})
        vector = dict(zip(FEATURE_NAMES, encode_application(undeclared), strict=True))
        assert math.isnan(vector["debt_share"]), missing


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


def _domain(field: str) -> npt.NDArray[np.float64] | list[str]:
    """Increasing values of a field over what the API accepts: ends, neighbours of the
    ends, and values in between (every integer for an integer field)."""
    if field == "records":
        return list(ORDERED_LABELS["records"])
    if field == "age":
        return np.arange(18, 101, dtype=np.float64)
    domain = FIELD_DOMAINS[field]
    if domain.integer:
        return np.arange(domain.low, domain.high + 1, dtype=np.float64)
    inside = np.concatenate([np.geomspace(1e-3, domain.high, 120), np.linspace(1, 5000, 60)])
    ends = [domain.low, np.nextafter(domain.low, np.inf), np.nextafter(domain.high, 0), domain.high]
    return np.unique(np.clip(np.concatenate([ends, inside]), domain.low, domain.high))


@pytest.mark.parametrize("field", FED_FEATURE_SLOPES)
def test_each_fed_feature_moves_as_the_slopes_table_says(
    course_frame: pd.DataFrame, field: str
) -> None:
    slopes = FED_FEATURE_SLOPES[field]
    # The table lists exactly the features computed from the field, but the one-hot
    # columns of labels outside the field's order ("records=unk": 0 at "no" and "yes").
    fed = {name for name, fields in FEATURE_SOURCES.items() if field in fields}
    unordered = {
        f"{field}={label}"
        for label in CATEGORIES.get(field, ())
        if label not in ORDERED_LABELS.get(field, ())
    }
    assert set(slopes) == fed - unordered
    assert set(slopes.values()) <= {-1, 1}
    # Data rows (some with income, assets or debt missing), each at increasing values.
    frame = course_frame.iloc[::7].reset_index(drop=True)
    values = _domain(field)
    moved = frame.loc[np.repeat(frame.index, len(values))].assign(
        **{field: np.tile(np.asarray(values, dtype=object), len(frame))}
    )
    if field != "records":
        moved[field] = moved[field].astype(np.float64)
    encoded = encode_columns(moved).reshape(len(frame), len(values), len(FEATURE_NAMES))
    for index, name in enumerate(FEATURE_NAMES):
        column = encoded[:, :, index].astype(np.float64)
        missing = np.isnan(column)
        if name not in slopes:
            # Every other feature, the labels' columns included, stays as it was.
            np.testing.assert_array_equal(column, column[:, :1].repeat(len(values), axis=1))
            continue
        # Finite throughout, or missing throughout.
        assert (missing.all(axis=1) | ~missing.any(axis=1)).all(), name
        assert np.isfinite(column[~missing]).all(), name
        steps = np.diff(column[~missing.any(axis=1)], axis=1) * slopes[name]
        assert (steps >= 0).all(), name
        assert (steps > 0).any(), name  # it does move: the sense is tested, not a constant


def test_the_slopes_cover_every_directed_field_and_age() -> None:
    assert set(FED_FEATURE_SLOPES) == {*FIELD_DIRECTIONS, "age"}
    # Each constrained feature's sign makes every field feeding it keep its direction.
    for field, slopes in FED_FEATURE_SLOPES.items():
        direction = FIELD_DIRECTIONS.get(field, -1)  # age: older never riskier
        for name, slope in slopes.items():
            assert MONOTONE_CONSTRAINTS[name] == slope * direction, (field, name)


def test_age_from_62_reads_as_62_in_both_encodings() -> None:
    ages = list(range(18, 101))
    applications = [CreditApplication(**{**COURSE_EXAMPLE, "age": age}) for age in ages]
    expected = [float(min(age, ELDERLY_AGE)) for age in ages]
    column = FEATURE_NAMES.index("age")
    assert [encode_application(a)[column] for a in applications] == expected
    assert encode_applications(applications)[:, column].tolist() == expected
    frame = pd.DataFrame([{**COURSE_EXAMPLE, "age": age} for age in ages])
    assert encode_columns(frame)[:, column].tolist() == expected
    assert ELDERLY_AGE == 62
