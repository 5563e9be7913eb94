"""The compiled explainer's table, kept in the store entry beside the booster.

Compiling the served booster (375 trees) takes about a second, most of a Lambda cold
start's model loading (docs/aws-lambda.md); reading its table takes milliseconds. So
``save_to_store`` writes the table once, and loading reads it instead of compiling,
and then verifies it against XGBoost exactly as a fresh compilation is verified.

The file is keyed to what the table was compiled from: the booster file's bytes, the
output mapping (``reasons.FIELD_WEIGHTS``) and the table layout
(``explainer.TABLE_LAYOUT``). A file whose key differs is not read: the booster is
compiled again, and a log line says why.
"""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

from credit_risk.model import explainer

EXPLAINER_FILE: Final = "explainer.npz"
"""The table's file in the store entry, beside ``store.BOOSTER_FILE``."""

_KEY: Final = "compiled_from"
_ARRAYS: Final = ("split_columns", "split_thresholds", "slot_splits", "offsets", "table")


class ExplainerFileError(ValueError):
    """The stored table is not to be used: compiled from another booster, mapping or
    layout, or its file is damaged."""


def compilation_key(booster_file: Path, output_weights: npt.NDArray[np.float32]) -> str:
    """What a table depends on, as one SHA-256: the booster file, the weights mapping
    ``pred_contribs`` to the outputs, and the explainer's table layout."""
    digest = hashlib.sha256(booster_file.read_bytes())
    weights = np.ascontiguousarray(output_weights, dtype=np.float64)
    digest.update(repr(weights.shape).encode())
    digest.update(weights.tobytes())
    digest.update(f"layout {explainer.TABLE_LAYOUT}".encode())
    return digest.hexdigest()


def write_explainer(path: Path, compiled: explainer.CompiledExplainer, key: str) -> None:
    """Write ``compiled`` to ``path`` (NumPy's ``.npz``, no pickles) under ``key``."""
    arrays = {name: getattr(compiled, name) for name in _ARRAYS}
    with path.open("wb") as out:
        np.savez(out, n_features=np.int64(compiled.n_features), **{_KEY: np.str_(key)}, **arrays)


def read_explainer(path: Path, key: str) -> explainer.CompiledExplainer:
    """The table written to ``path``; ``ExplainerFileError`` if it was written under
    another key or cannot be read whole. Pickled objects are refused."""
    try:
        with np.load(path, allow_pickle=False) as stored:
            arrays = {name: stored[name] for name in (_KEY, "n_features", *_ARRAYS)}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as why:
        raise ExplainerFileError(f"{path.name} cannot be read ({why!r})") from why
    if str(arrays.pop(_KEY)) != key:
        raise ExplainerFileError(
            f"{path.name} was compiled from another booster, output mapping or layout"
        )
    return explainer.CompiledExplainer(n_features=int(arrays.pop("n_features")), **arrays)
