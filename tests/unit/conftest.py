"""The unit tier's fixtures: everything in this process, no server, nothing to wait for."""

from __future__ import annotations

import functools

import pytest

from credit_risk.training import evaluation
from credit_risk.training.data import Dataset


@pytest.fixture(scope="session")
def trained_model(training_data: Dataset) -> str:
    """The model ``train.py`` makes, trained in this process by ``train.main`` itself, with
    one repeat of the cross-validation instead of five and no reports; returns the saved tag.

    The booster (the default recipe on every row) is the same, and so is the metadata but
    for the cross-validated AUC and its spread, over 5 folds instead of 25: the reference
    distribution is cut from the first repeat's out-of-fold predictions, which are the
    same. The unit tests need the model, not the estimate; the whole ``train.py`` runs as
    a user runs it in ``tests/e2e/test_train.py`` and for the e2e and deploy tiers.
    """
    import bentoml

    import train

    with pytest.MonkeyPatch.context() as patch:
        # The cross-validation is looked up where it is defined, at each call.
        patch.setattr(
            evaluation, "cross_validate", functools.partial(evaluation.cross_validate, repeats=1)
        )
        # The plots and the JSON report are train.py's output, checked in e2e/test_train.py.
        patch.setattr(train, "write_reports", lambda *_args, **_kwargs: [])
        patch.setattr(train, "write_governance_reports", lambda *_args, **_kwargs: [])
        train.main(["--data-dir", str(training_data.path.parent)])
    return str(bentoml.models.get("credit_risk_model:latest").tag)
