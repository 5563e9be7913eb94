"""Moved applications are encoded exactly as the service would encode them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from credit_risk.features import encode_columns
from credit_risk.model.audit.applications import Applications
from credit_risk.vocabulary import CATEGORIES, NUMERIC_FIELDS


@pytest.mark.parametrize("field", NUMERIC_FIELDS)
def test_a_moved_numeric_field_is_encoded_as_the_service_encodes_it(
    data: Applications, course_frame: pd.DataFrame, field: str
) -> None:
    rng = np.random.default_rng(len(field))
    rows = rng.choice(len(data), 400)
    # Zero (an undeclared income, a zero denominator), tiny, huge and missing values too.
    values = np.concatenate([rng.uniform(0, 5000, 392), [0, 5e-324, 1, 18, 62, 1e9, 3e-7, np.nan]])
    moved = course_frame.iloc[rows].assign(**{field: values})
    np.testing.assert_array_equal(data.with_numeric(field, rows, values), encode_columns(moved))


@pytest.mark.parametrize("field", CATEGORIES)
def test_a_moved_label_is_encoded_as_the_service_encodes_it(
    data: Applications, course_frame: pd.DataFrame, field: str
) -> None:
    sample = data.take(np.arange(0, len(data), 9))
    label = CATEGORIES[field][1]
    expected = encode_columns(course_frame.iloc[::9].assign(**{field: label}))
    np.testing.assert_array_equal(sample.with_label(field, label), expected)
    with pytest.raises(ValueError, match="not a label"):
        sample.with_label(field, "mansion")


def test_generated_columns_with_undeclared_values_load_as_missing() -> None:
    columns = {
        **{name: [1.0, None] for name in NUMERIC_FIELDS},
        **{name: [labels[0]] * 2 for name, labels in CATEGORIES.items()},
    }
    applications = Applications.from_columns(columns)
    assert np.isnan(applications.numeric["income"][1])
    np.testing.assert_array_equal(applications.encoded, encode_columns(columns))
    with pytest.raises(ValueError, match="not a numeric field"):
        applications.with_numeric("marital", np.arange(2), [1.0, 2.0])
