"""train.py refuses to save a model that fails a fair-lending proof."""

from __future__ import annotations

import functools
from pathlib import Path

import bentoml
import pytest

from credit_risk.features import FEATURE_NAMES
from credit_risk.model import MODEL_NAME
from credit_risk.training import evaluation
from credit_risk.training.data import Dataset
from credit_risk.training.recipes import DEFAULT_RECIPE


def _stored() -> set[str]:
    return {str(model.tag) for model in bentoml.models.list(MODEL_NAME)}


@pytest.mark.parametrize(
    ("broken", "failure"),
    [
        ({"monotone_constraints": "()"}, "direction is not proven"),
        # One group of every feature: age may share a tree with anything.
        (
            {"interaction_constraints": str([list(range(len(FEATURE_NAMES)))])},
            "elderly rule is not proven",
        ),
    ],
    ids=["no monotone constraints", "age not in a group of its own"],
)
def test_a_model_failing_a_proof_is_not_saved(
    broken: dict[str, str],
    failure: str,
    training_data: Dataset,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import train

    monkeypatch.setattr(train, "DEFAULT_RECIPE", DEFAULT_RECIPE.with_params(**broken))
    # One repeat of the cross-validation: the proofs run on the final fit, not on it.
    monkeypatch.setattr(
        evaluation, "cross_validate", functools.partial(evaluation.cross_validate, repeats=1)
    )
    monkeypatch.setattr(train, "write_reports", lambda *_args, **_kwargs: [])
    before = _stored()
    with pytest.raises(SystemExit) as stopped:
        train.main(
            [
                "--data-dir",
                str(training_data.path.parent),
                "--reports-dir",
                str(tmp_path / "reports"),
            ]
        )
    message = str(stopped.value.code)
    assert message.startswith("Not saved: the model fails its fair-lending proofs")
    assert failure in message
    assert _stored() == before
    assert not (tmp_path / "reports").exists()
