"""Synthetic loan applications drawn from a model's training reference distribution.

Used by the load tests and, as a command, to make portfolios of any size::

    python -m credit_risk.generator --rows 1000000 -o portfolio.parquet [--seed 0]
    python -m credit_risk.generator --rows 1000 -o apps.csv --model credit_risk_model:abc

The reference (bins per field, shares per label) is the
one stored with the model and served by ``POST /model``, so the traffic looks
like the data the model learned from. Fields are drawn independently.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np

from credit_risk.vocabulary import APPLICATION_FIELDS, CATEGORIES, NUMERIC_FIELDS

_INTEGER_FIELDS: Final = ("seniority", "time", "age")
_NULLABLE_FIELDS: Final = ("income", "assets", "debt")

Application = dict[str, Any]


class ApplicationGenerator:
    """Draws valid application bodies from a reference distribution."""

    def __init__(self, reference: Mapping[str, Any], seed: int = 0) -> None:
        self._reference = reference
        self._rng = np.random.default_rng(seed)

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
            shares = self._reference["categorical"][name]
            weights = np.array([shares.get(label, 0.0) for label in labels])
            drawn = self._rng.choice(labels, size=count, p=weights / weights.sum())
            columns[name] = drawn.tolist()
        return {name: columns[name] for name in APPLICATION_FIELDS}

    def _numeric(self, name: str, count: int) -> list[Any]:
        binned = self._reference["numeric"][name]
        edges = np.asarray(binned["edges"], dtype=np.float64)
        shares = np.asarray([*binned["shares"], binned["missing_share"]], dtype=np.float64)
        bins = self._rng.choice(len(shares), size=count, p=shares / shares.sum())
        missing = bins == len(shares) - 1
        bins = np.minimum(bins, len(edges) - 2)
        values = self._rng.uniform(edges[bins], edges[bins + 1])
        if name in _INTEGER_FIELDS:
            return [int(v) for v in np.rint(values)]
        rounded = [round(float(v), 2) for v in values]
        if name in _NULLABLE_FIELDS:
            return [None if m else v for m, v in zip(missing, rounded, strict=True)]
        return rounded


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


def write_portfolio(reference: Mapping[str, Any], rows: int, output: Path, seed: int = 0) -> None:
    """Write ``rows`` drawn applications to ``output`` (CSV with a header, or Parquet),
    chunk by chunk, so that memory stays flat whatever ``rows`` is."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    types = {
        name: pa.int64() if name in _INTEGER_FIELDS else pa.float64() for name in NUMERIC_FIELDS
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
        "--model", default="credit_risk_model:latest", help="model whose reference to draw from"
    )
    args = parser.parse_args(argv)
    if args.rows < 0:
        parser.error("--rows must be 0 or more")
    import bentoml

    try:
        model = bentoml.models.get(args.model)
    except bentoml.exceptions.NotFound:
        parser.exit(3, f"error: model {args.model} is not in the store; run `python train.py`\n")
    write_portfolio(model.info.metadata["reference"], args.rows, args.output, args.seed)


if __name__ == "__main__":
    main()
