"""The explainer's table stored at save: read at load instead of compiling, only when it
was compiled from the same booster, mapping and layout, and verified like a fresh one."""

from __future__ import annotations

import dataclasses
import logging
import shutil
from pathlib import Path

import bentoml
import numpy as np
import pytest

from credit_risk.model import explainer, explainer_file
from credit_risk.model.store import BOOSTER_FILE, ServedModel, compiled_explainer, load_from_store
from credit_risk.reasons import FIELD_WEIGHTS

STORE_LOGGER = "credit_risk.model.store"


@pytest.fixture(scope="module")
def served(trained_model: str) -> ServedModel:
    """The model train.py stored, loaded as the service loads it."""
    return load_from_store(bentoml.models.get(trained_model), nthread=1)


@pytest.fixture
def entry(trained_model: str, tmp_path: Path) -> Path:
    """A copy of the store entry's files, to spoil without touching the store."""
    copy = tmp_path / "entry"
    shutil.copytree(bentoml.models.get(trained_model).path, copy)
    return copy


def load_messages(
    served: ServedModel, folder: Path, caplog: pytest.LogCaptureFixture
) -> tuple[explainer.CompiledExplainer | None, list[str]]:
    """``compiled_explainer`` on ``folder`` for the served booster, and what it logged."""
    caplog.clear()
    with caplog.at_level(logging.INFO, logger=STORE_LOGGER):
        compiled = compiled_explainer(
            served.tag, served.booster, served.metadata.reference, 1, folder=folder
        )
    return compiled, [record.getMessage() for record in caplog.records]


def assert_same_table(
    left: explainer.CompiledExplainer | None, right: explainer.CompiledExplainer
) -> None:
    """Every array of both explainers equal, bit for bit."""
    assert left is not None
    assert left.n_features == right.n_features
    for field in dataclasses.fields(right):
        np.testing.assert_array_equal(getattr(left, field.name), getattr(right, field.name))


def test_training_stores_the_table_and_loading_reads_it(
    served: ServedModel, entry: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert (entry / explainer_file.EXPLAINER_FILE).is_file()
    compiled, messages = load_messages(served, entry, caplog)
    (line,) = [m for m in messages if "compiled explainer of" in m]
    assert "(read from the store entry)" in line and "checked against XGBoost" in line
    assert_same_table(compiled, explainer.compile_booster(served.booster, FIELD_WEIGHTS))


def test_a_table_of_another_booster_is_not_read(
    served: ServedModel, entry: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # The same table under the key of another booster file: the key, not the table, differs.
    assert served.compiled is not None
    other_key = explainer_file.compilation_key(entry / BOOSTER_FILE, FIELD_WEIGHTS * 2)
    explainer_file.write_explainer(
        entry / explainer_file.EXPLAINER_FILE, served.compiled, other_key
    )
    compiled, messages = load_messages(served, entry, caplog)
    assert any("not used" in m and "another booster" in m for m in messages)
    assert any("(compiled)" in m for m in messages)
    assert_same_table(compiled, served.compiled)


@pytest.mark.parametrize("spoilt", ["values", "rows"])
def test_a_stored_table_that_disagrees_with_xgboost_is_compiled_again(
    served: ServedModel, entry: Path, caplog: pytest.LogCaptureFixture, spoilt: str
) -> None:
    # Spoilt under the right key (as a bug of an earlier compiler would leave it).
    assert served.compiled is not None
    table = served.compiled.table.copy()
    if spoilt == "values":
        table[:, 3] += 1e-3
    else:
        table = table[:100]  # rows the trees' patterns point past
    key = explainer_file.compilation_key(entry / BOOSTER_FILE, FIELD_WEIGHTS)
    explainer_file.write_explainer(
        entry / explainer_file.EXPLAINER_FILE,
        dataclasses.replace(served.compiled, table=table),
        key,
    )
    compiled, messages = load_messages(served, entry, caplog)
    expected = "differ" if spoilt == "values" else "out of bounds"
    assert any("stored explainer table is refused" in m and expected in m for m in messages)
    assert any("(compiled)" in m for m in messages)
    assert_same_table(compiled, served.compiled)


@pytest.mark.parametrize("damage", ["missing", "truncated"])
def test_a_missing_or_damaged_file_means_compiling(
    served: ServedModel, entry: Path, caplog: pytest.LogCaptureFixture, damage: str
) -> None:
    path = entry / explainer_file.EXPLAINER_FILE
    if damage == "missing":
        path.unlink()
    else:
        path.write_bytes(path.read_bytes()[:1000])
    compiled, messages = load_messages(served, entry, caplog)
    expected = "no stored explainer table" if damage == "missing" else "not used"
    assert any(expected in m for m in messages)
    assert any("(compiled)" in m for m in messages)
    assert served.compiled is not None
    assert_same_table(compiled, served.compiled)
