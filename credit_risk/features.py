"""The one feature encoding, shared by training and serving.

``encode_columns`` is vectorised for batches and the training frame;
``encode_application`` builds the same vector for one application in plain
Python, which costs a few microseconds instead of the tens that small numpy
operations add up to. A test keeps the two identical.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from credit_risk.schema import CreditApplication
from credit_risk.vocabulary import APPLICATION_FIELDS, CATEGORIES, NUMERIC_FIELDS

NAN: Final = float("nan")
FLOAT32_MAX: Final = float(np.finfo(np.float32).max)
"""Ratios over a tiny denominator (a price of 1e-300) overflow float32 to inf,
which XGBoost refuses; clamped here, they fall in the same leaf as any huge value."""


def _finite32(value: float) -> float:
    return value if math.isnan(value) else min(max(value, -FLOAT32_MAX), FLOAT32_MAX)


def _derived(fields: Mapping[str, Any], divide: Callable[[Any, Any], Any]) -> dict[str, Any]:
    """Ratio features, written once for scalars and for numpy columns alike."""
    installment = divide(fields["amount"], fields["time"])
    return {
        "loan_to_value": divide(fields["amount"], fields["price"]),
        "installment": installment,
        "installment_to_income": divide(installment, fields["income"]),
        "expenses_to_income": divide(fields["expenses"], fields["income"]),
        "free_income": fields["income"] - fields["expenses"] - installment,
        # Never missing for a declared debt and assets (assets of 0 included), and
        # falling as assets grow: a ratio over assets alone is missing at 0 and huge
        # just above, which no monotone constraint can order.
        "debt_share": divide(fields["debt"], fields["debt"] + fields["assets"] + 1.0),
        "net_assets": fields["assets"] - fields["debt"],
    }


DERIVED_SOURCES: Final[dict[str, tuple[str, ...]]] = {
    "loan_to_value": ("amount", "price"),
    "installment": ("amount", "time"),
    "installment_to_income": ("amount", "time", "income"),
    "expenses_to_income": ("expenses", "income"),
    "free_income": ("income", "expenses", "amount", "time"),
    "debt_share": ("debt", "assets"),
    "net_assets": ("assets", "debt"),
}
"""Application fields each derived feature is computed from, for reason codes."""

ONE_HOT_FEATURES: Final[tuple[str, ...]] = tuple(
    f"{field}={label}" for field, labels in CATEGORIES.items() for label in labels
)
FEATURE_NAMES: Final[tuple[str, ...]] = (*NUMERIC_FIELDS, *ONE_HOT_FEATURES, *DERIVED_SOURCES)
"""Column order of the model's input matrix."""

FEATURE_SOURCES: Final[dict[str, tuple[str, ...]]] = {
    **{name: (name,) for name in NUMERIC_FIELDS},
    **{name: (name.partition("=")[0],) for name in ONE_HOT_FEATURES},
    **DERIVED_SOURCES,
}
"""For every model feature, the application fields it comes from."""

MONOTONE_CONSTRAINTS: Final[dict[str, int]] = {
    "seniority": -1,
    "age": -1,
    "income": -1,
    "assets": -1,
    "amount": 1,
    "records=no": -1,
    "records=yes": 1,
    "loan_to_value": 1,
    "installment": 1,
    "installment_to_income": 1,
    "expenses_to_income": 1,
    "free_income": -1,
    "debt_share": 1,
    "net_assets": -1,
}
"""Where domain sense fixes the direction: +1 raises the default risk, -1 lowers it.

Every encoded feature fed by a field with a declared direction
(``vocabulary.FIELD_DIRECTIONS``) is constrained, in the sense that makes the field's
direction hold (``FED_FEATURE_SLOPES``); ``credit_risk.model.audit.proofs`` proves it
on the trees. ``age`` is constrained for Regulation B's elderly rule
(``ELDERLY_AGE``)."""

FED_FEATURE_SLOPES: Final[dict[str, dict[str, int]]] = {
    "seniority": {"seniority": 1},
    "income": {
        "income": 1,
        "installment_to_income": -1,
        "expenses_to_income": -1,
        "free_income": 1,
    },
    "assets": {"assets": 1, "debt_share": -1, "net_assets": 1},
    "amount": {
        "amount": 1,
        "loan_to_value": 1,
        "installment": 1,
        "installment_to_income": 1,
        "free_income": -1,
    },
    "records": {"records=no": -1, "records=yes": 1},
    "age": {"age": 1},
}
"""How each encoded feature moves as a field with a direction grows (+1 up, -1 down),
all else equal: the fields of ``vocabulary.FIELD_DIRECTIONS``, and ``age``. For
``records``, growing is "no" to "yes". A unit test checks the slopes on the encoding."""

ELDERLY_AGE: Final = 62
"""Regulation B's elderly applicant (12 CFR 1002.6(b)(2)(ii)): 62 or older. The model
reads ``min(age, ELDERLY_AGE)``, so every elderly applicant reads as 62: the oldest age
the model can tell apart, which a risk falling with age (``MONOTONE_CONSTRAINTS``)
makes the least risky (the proof is in ``credit_risk.model.audit.proofs``)."""

AGE_GROUP: Final[tuple[str, ...]] = ("age",)
"""Features in an interaction group of their own: the trees that split on age split on
nothing else, so age adds one term to the margin, whatever the other fields are."""

_ONE_HOT_OFFSET: Final = len(NUMERIC_FIELDS)
_DERIVED_OFFSET: Final = _ONE_HOT_OFFSET + len(ONE_HOT_FEATURES)
_CATEGORY_INDEX: Final[dict[str, dict[str, int]]] = {}
_offset = _ONE_HOT_OFFSET
for _field, _labels in CATEGORIES.items():
    _CATEGORY_INDEX[_field] = {label: _offset + i for i, label in enumerate(_labels)}
    _offset += len(_labels)
_CATEGORY_COLUMNS: Final[dict[str, npt.NDArray[np.intp]]] = {
    field: np.fromiter(index.values(), dtype=np.intp) for field, index in _CATEGORY_INDEX.items()
}
"""Per categorical field, the one-hot column of each of its labels, in ``CATEGORIES`` order."""


def _scalar_divide(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else NAN


def _column_divide(numerator: npt.NDArray[np.float64], denominator: npt.NDArray[np.float64]) -> Any:
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return np.where(denominator != 0, numerator / denominator, np.nan)


def _number(value: float | None) -> float:
    return NAN if value is None else float(value)


def _model_age(age: float) -> float:
    return min(age, ELDERLY_AGE)


def _declared_income(income: float) -> float:
    # An income of 0 means "not declared": the modeldata flavour of the data
    # records it as missing, so both flavours and the API agree on NaN.
    return income if income > 0 else NAN


def encode_application(application: CreditApplication) -> list[float]:
    """Encode one application as the model's feature vector (``FEATURE_NAMES`` order)."""
    fields = {name: _number(getattr(application, name)) for name in NUMERIC_FIELDS}
    fields["income"] = _declared_income(fields["income"])
    fields["age"] = _model_age(fields["age"])
    vector = [fields[name] for name in NUMERIC_FIELDS]
    vector.extend([0.0] * len(ONE_HOT_FEATURES))
    for field, index in _CATEGORY_INDEX.items():
        vector[index[getattr(application, field)]] = 1.0
    vector.extend(_finite32(value) for value in _derived(fields, _scalar_divide).values())
    return vector


def _numeric_columns(columns: Mapping[str, Any]) -> dict[str, npt.NDArray[np.float64]]:
    """The numeric fields as float64 columns, as the model reads them: an undeclared
    income as NaN, an age from 62 up as 62 (``ELDERLY_AGE``)."""
    fields = {
        name: np.asarray(columns[name], dtype=np.float64).reshape(-1) for name in NUMERIC_FIELDS
    }
    income = fields["income"]
    fields["income"] = np.where(income > 0, income, np.nan)
    fields["age"] = np.minimum(fields["age"], ELDERLY_AGE)
    return fields


def encode_columns(
    columns: Mapping[str, Any], *, label_codes: Mapping[str, npt.ArrayLike] | None = None
) -> npt.NDArray[np.float32]:
    """Encode applications given column-wise (a DataFrame or a dict of sequences).

    Numeric columns may hold NaN for missing values; categorical columns hold labels.
    ``label_codes`` may give a categorical field's labels instead as their positions in
    ``CATEGORIES[field]`` (as batch validation has them): the same encoding, without
    comparing each label as a Python string to each of the field's labels (1 µs a row
    of the 4 fields, docs/batch.md).
    """
    fields = _numeric_columns(columns)
    rows = len(fields["income"])
    matrix = np.zeros((rows, len(FEATURE_NAMES)), dtype=np.float64)
    for i, name in enumerate(NUMERIC_FIELDS):
        matrix[:, i] = fields[name]
    for field, index in _CATEGORY_INDEX.items():
        if label_codes is not None and field in label_codes:
            codes = np.asarray(label_codes[field]).reshape(-1)
            if codes.size and not (codes.min() >= 0 and codes.max() < len(index)):
                raise ValueError(f"{field}: a code outside 0..{len(index) - 1}")
            matrix[np.arange(rows), _CATEGORY_COLUMNS[field][codes]] = 1.0
            continue
        labels = np.asarray(columns[field], dtype=object).reshape(-1)
        for label, column in index.items():
            matrix[:, column] = labels == label
    for i, values in enumerate(_derived(fields, _column_divide).values()):
        matrix[:, _DERIVED_OFFSET + i] = values
    np.clip(matrix, -FLOAT32_MAX, FLOAT32_MAX, out=matrix)
    return matrix.astype(np.float32)


NUMERIC_FEATURE_INDICES: Final[tuple[int, ...]] = (
    *range(len(NUMERIC_FIELDS)),
    *range(_DERIVED_OFFSET, len(FEATURE_NAMES)),
)
"""The columns of the model's input that numeric fields make: the fields, then the
derived features (the one-hot columns between them come from the labels alone)."""


def encode_numeric_columns(columns: Mapping[str, Any]) -> npt.NDArray[np.float32]:
    """The ``NUMERIC_FEATURE_INDICES`` columns of ``encode_columns``, from the numeric
    fields alone (column-wise, NaN or None where missing): the same code, without the
    labels, for the audits that move one numeric field of many rows
    (``credit_risk.model.audit``). A test keeps it equal to ``encode_columns``."""
    fields = _numeric_columns(columns)
    matrix = np.column_stack(
        [
            *(fields[name] for name in NUMERIC_FIELDS),
            *_derived(fields, _column_divide).values(),
        ]
    )
    np.clip(matrix, -FLOAT32_MAX, FLOAT32_MAX, out=matrix)
    return matrix.astype(np.float32)


def application_columns(applications: Sequence[CreditApplication]) -> dict[str, list[Any]]:
    """The applications column-wise: each field's name (``APPLICATION_FIELDS`` order) to
    its values, as the applications hold them (``None`` where not declared)."""
    return {
        name: [getattr(application, name) for application in applications]
        for name in APPLICATION_FIELDS
    }


def encode_applications(applications: Sequence[CreditApplication]) -> npt.NDArray[np.float32]:
    """Encode a batch of applications; row ``i`` equals ``encode_application(applications[i])``."""
    return encode_columns(application_columns(applications))
