"""XGBoost in a serving process: imported without scikit-learn, and working."""

from __future__ import annotations

import subprocess
import sys

from tests.support.servers import ROOT


def _run(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def test_serving_imports_leave_scikit_learn_out_and_xgboost_trains() -> None:
    # scikit-learn is installed here (the train extra): without the guard XGBoost would
    # import it, SciPy with it.
    assert _run("import sklearn; print('ok')") == "ok"
    answer = _run(
        "import sys\n"
        "import numpy as np\n"
        "from credit_risk.model import store\n"
        "from credit_risk.model.lean_xgboost import xgb\n"
        "loaded = 'sklearn' in sys.modules\n"
        "booster = xgb.train({}, xgb.DMatrix(np.eye(4), label=[0, 1, 0, 1]), 2)\n"
        "import sklearn.metrics\n"
        "print(loaded, xgb.compat.SKLEARN_INSTALLED, booster.num_boosted_rounds())"
    )
    assert answer == "False False 2"


def test_a_process_that_imported_scikit_learn_keeps_xgboosts_wrappers() -> None:
    answer = _run(
        "import sklearn.base\n"
        "from credit_risk.model.lean_xgboost import xgb\n"
        "print(xgb.compat.SKLEARN_INSTALLED)"
    )
    assert answer == "True"
