"""Synthetic loan applications drawn from a model's training reference distribution.

Used by the load tests and, as a command, to make portfolios of any size::

    python -m credit_risk.generator --rows 1000000 -o portfolio.parquet [--seed 0]
    python -m credit_risk.generator --rows 1000 -o apps.csv --model credit_risk_model:abc

The reference (bins per field, shares per label) is the
one stored with the model and served by ``POST /model``, so the traffic looks
like the data the model learned from. Fields are drawn independently.

A ``Shift`` changes the population on purpose (older applicants asking for more,
or many undeclared incomes), so that drift monitoring can be shown to react.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from credit_risk.model import DEFAULT_MODEL_TAG
from credit_risk.model.metadata import Reference
from credit_risk.schema import MAX_MONEY
from credit_risk.vocabulary import (
    APPLICATION_FIELDS,
    CATEGORIES,
    INTEGER_FIELDS,
    NULLABLE_FIELDS,
    NUMERIC_FIELDS,
)

_MAX_AGE: Final = 100

Application = dict[str, Any]


@dataclass(frozen=True)
class Shift:
    """A change of population applied to every drawn application."""

    older_by_years: int = 0
    """Added to the age (capped at 100)."""
    amount_factor: float = 1.0
    """Multiplies the requested amount."""
    undeclared_income_share: float = 0.0
    """Share of applications whose income becomes 0 (not declared)."""

    @property
    def fields(self) -> tuple[str, ...]:
        """The application fields this shift moves."""
        moved = {
            "age": self.older_by_years != 0,
            "amount": self.amount_factor != 1.0,
            "income": self.undeclared_income_share > 0,
        }
        return tuple(name for name in APPLICATION_FIELDS if moved.get(name))

    def apply(self, applications: list[Application], rng: np.random.Generator) -> list[Application]:
        """The applications as this shifted population would send them (new dicts)."""
        columns = {name: [a[name] for a in applications] for name in APPLICATION_FIELDS}
        shifted = self.apply_columns(columns, rng)
        return [
            {**application, **{name: shifted[name][row] for name in self.fields}}
            for row, application in enumerate(applications)
        ]

    def apply_columns(
        self, columns: dict[str, list[Any]], rng: np.random.Generator
    ) -> dict[str, list[Any]]:
        """Drawn columns as this shifted population would send them (new lists)."""
        if not self.fields:
            return columns
        undeclared = rng.random(len(columns["age"])) < self.undeclared_income_share
        return {
            **columns,
            "age": [min(age + self.older_by_years, _MAX_AGE) for age in columns["age"]],
            "amount": [
                min(round(amount * self.amount_factor, 2), MAX_MONEY)
                for amount in columns["amount"]
            ],
            "income": [
                0.0 if zero else income
                for income, zero in zip(columns["income"], undeclared.tolist(), strict=True)
            ],
        }


SHIFTS: Final[dict[str, Shift]] = {
    "none": Shift(),
    "older-larger": Shift(older_by_years=12, amount_factor=1.6),
    "undeclared-income": Shift(undeclared_income_share=0.4),
}
"""Named shifts, as ``locust --shift NAME`` offers them."""


class ApplicationGenerator:
    """Draws valid application bodies from a reference distribution."""

    def __init__(self, reference: Reference, seed: int = 0, shift: Shift = SHIFTS["none"]) -> None:
        self._reference = reference
        self._rng = np.random.default_rng(seed)
        self._shift = shift

    def draw(self, count: int) -> list[Application]:
        """``count`` applications, vectorised: about a microsecond each."""
        columns = self.draw_columns(count)
        return [{name: columns[name][row] for name in APPLICATION_FIELDS} for row in range(count)]

    def draw_columns(self, count: int) -> dict[str, list[Any]]:
        """``count`` applications as columns (the same draws as ``draw``)."""
        columns: dict[str, list[Any]] = {}
        for name in NUMERIC_FIELDS:
            columns[name] = self._numeric(name, count)
        for name, labels in CATEGORIES.items():
            shares = self._reference.categorical[name]
            weights = np.array([shares.get(label, 0.0) for label in labels])
            drawn = self._rng.choice(labels, size=count, p=weights / weights.sum())
            columns[name] = drawn.tolist()
        drawn = {name: columns[name] for name in APPLICATION_FIELDS}
        return self._shift.apply_columns(drawn, self._rng)

    def _numeric(self, name: str, count: int) -> list[Any]:
        binned = self._reference.numeric[name]
        edges = np.asarray(binned.edges, dtype=np.float64)
        shares = np.asarray([*binned.shares, binned.missing_share], dtype=np.float64)
        bins = self._rng.choice(len(shares), size=count, p=shares / shares.sum())
        missing = bins == len(shares) - 1
        bins = np.minimum(bins, len(edges) - 2)
        if name in INTEGER_FIELDS:
            return [int(v) for v in self._integers(edges, bins)]
        values = self._rng.uniform(edges[bins], edges[bins + 1])
        rounded = [round(float(v), 2) for v in values]
        if name in NULLABLE_FIELDS:
            return [None if m else v for m, v in zip(missing, rounded, strict=True)]
        return rounded

    def _integers(self, edges: npt.NDArray[np.float64], bins: npt.NDArray[np.intp]) -> Any:
        # Integers inside each bin as numpy.histogram counts them ([low, high),
        # the last bin closed): rounding uniform draws instead would move values
        # across the edges and make the drawn traffic itself look drifted.
        last = bins == len(edges) - 2
        low = np.ceil(edges[bins])
        high = np.where(last, np.floor(edges[bins + 1]), np.ceil(edges[bins + 1]) - 1)
        return self._rng.integers(low, np.maximum(high, low), endpoint=True)


@dataclass(frozen=True)
class InvalidCase:
    """A way to spoil an application; the service must answer 400 naming ``field``."""

    field: str
    spoil: Callable[[Application], Application]


def _changed(**changes: Any) -> Callable[[Application], Application]:
    return lambda application: {**application, **changes}


def _without(field: str) -> Callable[[Application], Application]:
    return lambda application: {k: v for k, v in application.items() if k != field}


def _renamed(field: str, misspelt: str) -> Callable[[Application], Application]:
    return lambda application: {(misspelt if k == field else k): v for k, v in application.items()}


INVALID_CASES: Final[dict[str, InvalidCase]] = {
    "unknown category": InvalidCase("home", _changed(home="mansion")),
    "wrong case category": InvalidCase("job", _changed(job="Fixed")),
    "string for a number": InvalidCase("seniority", _changed(seniority="3")),
    "boolean for a number": InvalidCase("amount", _changed(amount=True)),
    "float for an integer": InvalidCase("age", _changed(age=26.5)),
    "null category": InvalidCase("marital", _changed(marital=None)),
    "age under 18": InvalidCase("age", _changed(age=17)),
    "age over 100": InvalidCase("age", _changed(age=101)),
    "negative money": InvalidCase("assets", _changed(assets=-1.0)),
    "zero amount": InvalidCase("amount", _changed(amount=0)),
    "zero price": InvalidCase("price", _changed(price=0.0)),
    "zero term": InvalidCase("time", _changed(time=0)),
    "absurd money": InvalidCase("debt", _changed(debt=1e300)),
    "missing field": InvalidCase("price", _without("price")),
    "misspelt field": InvalidCase("senority", _renamed("seniority", "senority")),
    "unknown extra field": InvalidCase("ssn", _changed(ssn="000-00-0000")),
}
"""Classes of bad input, shared by the validation tests and the load test."""


def spoil(application: Application, case: str) -> Application:
    """The application spoilt the way ``case`` names."""
    return INVALID_CASES[case].spoil(application)


GENERATOR_CHUNK_ROWS: Final = 100_000


def write_portfolio(reference: Reference, rows: int, output: Path, seed: int = 0) -> None:
    """Write ``rows`` drawn applications to ``output`` (CSV with a header, or Parquet),
    chunk by chunk, so that memory stays flat whatever ``rows`` is."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    types = {
        name: pa.int64() if name in INTEGER_FIELDS else pa.float64() for name in NUMERIC_FIELDS
    }
    schema = pa.schema([(name, types.get(name, pa.string())) for name in APPLICATION_FIELDS])
    generator = ApplicationGenerator(reference, seed=seed)
    output.parent.mkdir(parents=True, exist_ok=True)
    parquet = output.suffix.lower() in (".parquet", ".pq")
    writer = pq.ParquetWriter(output, schema) if parquet else pacsv.CSVWriter(output, schema)
    with writer:
        for start in range(0, rows, GENERATOR_CHUNK_ROWS):
            columns = generator.draw_columns(min(GENERATOR_CHUNK_ROWS, rows - start))
            writer.write_table(pa.table(columns, schema=schema))


def main(argv: list[str] | None = None) -> None:
    """``python -m credit_risk.generator``: a portfolio drawn from a stored model's reference."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m credit_risk.generator",
        description="Write synthetic applications drawn from a stored model's reference.",
    )
    parser.add_argument("--rows", type=int, required=True, help="applications to write")
    parser.add_argument("-o", "--output", type=Path, required=True, help="*.csv or *.parquet")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument(
        "--model", default=DEFAULT_MODEL_TAG, help="model whose reference to draw from"
    )
    args = parser.parse_args(argv)
    if args.rows < 0:
        parser.error("--rows must be 0 or more")
    import bentoml

    from credit_risk.model.metadata import ModelMetadata

    try:
        model = bentoml.models.get(args.model)
    except bentoml.exceptions.NotFound:
        parser.exit(3, f"error: model {args.model} is not in the store; run `python train.py`\n")
    reference = ModelMetadata.model_validate(model.info.metadata).reference
    write_portfolio(reference, args.rows, args.output, args.seed)


if __name__ == "__main__":
    main()


def draw_outcomes(
    probabilities: npt.ArrayLike, *, risk_factor: float = 1.0, seed: int = 0
) -> npt.NDArray[np.int8]:
    """Outcomes (1 defaulted, 0 repaid) of decided applications, each drawn from a
    stated true risk: the model's own ``probabilities`` times ``risk_factor`` (capped
    at 1). A factor of 1 makes the model exactly calibrated; 2, a model that
    under-states every risk by half (docs/outcomes.md)."""
    risk = np.minimum(np.asarray(probabilities, dtype=np.float64) * risk_factor, 1.0)
    return (np.random.default_rng(seed).random(risk.shape) < risk).astype(np.int8)
