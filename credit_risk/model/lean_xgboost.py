"""XGBoost imported without its scikit-learn wrappers, for the processes that serve.

``import xgboost`` imports scikit-learn, and SciPy with it, whenever they are installed
(``xgboost/compat.py``, XGBoost 3.2), for the ``XGBClassifier`` family this project
never uses. Installed they are wherever training is (``make serve``, the tests): there
it was most of a worker's start (docs/reliability.md, "Starting a worker"). The bento
and its image carry no scikit-learn, so they start the same either way.

Importing XGBoost through this module while ``sklearn`` is hidden makes XGBoost take
its own fallback (``SKLEARN_INSTALLED`` false); ``sklearn`` stays importable for any
code that wants it afterwards. Nothing changes when XGBoost or scikit-learn is already
imported (a training process).
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType


def _import_xgboost() -> ModuleType:
    if "xgboost" in sys.modules or "sklearn" in sys.modules:
        return importlib.import_module("xgboost")
    # None in sys.modules makes `import sklearn` raise ImportError (the import system's
    # documented way to block a module), which XGBoost catches.
    sys.modules["sklearn"] = None  # type: ignore[assignment]
    try:
        return importlib.import_module("xgboost")
    finally:
        del sys.modules["sklearn"]


xgb = _import_xgboost()
"""The ``xgboost`` module."""

__all__ = ["xgb"]
