"""The applications an audit runs over, and the same applications with one field moved.

Every encoding goes through ``credit_risk.features``, the code the service scores
with: a moved field's derived features (``income`` feeds ``installment_to_income``,
``expenses_to_income`` and ``free_income``) are recomputed, never patched.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from credit_risk.features import NUMERIC_FEATURE_INDICES, encode_columns, encode_numeric_columns
from credit_risk.vocabulary import APPLICATION_FIELDS, CATEGORIES, NUMERIC_FIELDS

_NUMERIC_COLUMNS = list(NUMERIC_FEATURE_INDICES)


@dataclass(frozen=True)
class Applications:
    """Applications column-wise: numeric fields as float64 (NaN where not declared),
    labels as object arrays, and their encoding as the model reads it."""

    numeric: dict[str, npt.NDArray[np.float64]]
    labels: dict[str, npt.NDArray[np.object_]]
    encoded: npt.NDArray[np.float32]

    @classmethod
    def from_columns(cls, columns: Mapping[str, Any]) -> Applications:
        """From the 13 fields given column-wise (a clean data frame, drawn columns);
        ``None`` or NaN for a numeric field not declared."""
        numeric = {
            name: np.asarray(columns[name], dtype=np.float64).reshape(-1) for name in NUMERIC_FIELDS
        }
        labels = {name: np.asarray(columns[name], dtype=object).reshape(-1) for name in CATEGORIES}
        return cls(numeric=numeric, labels=labels, encoded=encode_columns({**numeric, **labels}))

    def __len__(self) -> int:
        return len(self.encoded)

    def columns(self) -> dict[str, Any]:
        """The 13 fields column-wise, in ``APPLICATION_FIELDS`` order."""
        fields = {**self.numeric, **self.labels}
        return {name: fields[name] for name in APPLICATION_FIELDS}

    def take(self, rows: npt.ArrayLike) -> Applications:
        """The applications at ``rows`` (indices or a boolean mask), in that order."""
        index = np.asarray(rows)
        return Applications(
            numeric={name: values[index] for name, values in self.numeric.items()},
            labels={name: values[index] for name, values in self.labels.items()},
            encoded=self.encoded[index],
        )

    def numeric_features(
        self, field: str, rows: npt.NDArray[np.intp], values: npt.ArrayLike
    ) -> npt.NDArray[np.float32]:
        """The ``NUMERIC_FEATURE_INDICES`` columns of application ``rows[i]`` with the
        numeric ``field`` set to ``values[i]``, everything else equal, as
        ``encode_numeric_columns`` computes them (derived features included)."""
        if field not in self.numeric:
            raise ValueError(f"{field!r} is not a numeric field: {NUMERIC_FIELDS}")
        moved = {name: column[rows] for name, column in self.numeric.items()}
        moved[field] = np.broadcast_to(np.asarray(values, dtype=np.float64), np.shape(rows))
        return encode_numeric_columns(moved)

    def with_numeric(
        self, field: str, rows: npt.NDArray[np.intp], values: npt.ArrayLike
    ) -> npt.NDArray[np.float32]:
        """Encoded rows: application ``rows[i]`` with the numeric ``field`` set to
        ``values[i]``, everything else equal (``numeric_features``, the labels' one-hot
        columns kept)."""
        encoded = self.encoded[rows]
        encoded[:, _NUMERIC_COLUMNS] = self.numeric_features(field, rows, values)
        return encoded

    def with_label(self, field: str, label: str) -> npt.NDArray[np.float32]:
        """Every application encoded with the categorical ``field`` set to ``label``,
        everything else equal."""
        if label not in CATEGORIES.get(field, ()):
            raise ValueError(f"{label!r} is not a label of {field!r}")
        return encode_columns({**self.columns(), field: np.full(len(self), label, dtype=object)})
