"""The challenger's side of a decision: exactly what it answers as champion, and one log
line per change of state."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import bentoml
import numpy as np
import pandas as pd
import pytest
from bentoml._internal.configuration.containers import BentoMLContainer

from credit_risk.decisions import DecisionMaker
from credit_risk.features import encode_columns
from credit_risk.model import shadow
from credit_risk.model.store import load_from_store


@pytest.fixture
def aliases() -> Iterator[dict[str, str]]:
    """BentoML's alias map, emptied for the test and restored after."""
    held = dict(BentoMLContainer.model_aliases.get())
    BentoMLContainer.model_aliases.set({})
    yield BentoMLContainer.model_aliases.get()
    BentoMLContainer.model_aliases.set(held)


def test_the_challengers_fields_are_its_decisions_as_champion(
    trained_model: str, course_frame: pd.DataFrame, aliases: dict[str, str]
) -> None:
    BentoMLContainer.model_aliases.set({"challenger": trained_model})
    served, error = shadow.load_challenger(nthread=1)
    assert served is not None and error is None
    features = encode_columns(course_frame.head(300))
    probabilities = shadow.shadow_probabilities(served, error, features)
    fields = shadow.shadow_fields(served.tag, served.policy, probabilities.tolist())
    as_champion = DecisionMaker(served.tag, served.policy, served.training_ranges).decide_columns(
        features, served.explain(features)
    )
    assert [f["status"] for f in fields] == as_champion.status
    assert [f["score"] for f in fields] == as_champion.score
    assert [f["default_probability"] for f in fields] == as_champion.default_probability.tolist()
    assert {f["model_tag"] for f in fields} == {trained_model}
    assert len(set(as_champion.status)) == 3


def test_a_missing_challenger_is_a_reason_not_an_exception(
    aliases: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    BentoMLContainer.model_aliases.set({"challenger": "credit_risk_model:doesnotexist"})
    with caplog.at_level(logging.WARNING):
        served, error = shadow.load_challenger(nthread=1)
    assert served is None and error is not None and "NotFound" in error
    with pytest.raises(shadow.ChallengerError, match="not loaded"):
        shadow.shadow_probabilities(served, error, np.zeros((1, 1), dtype=np.float32))
    policy, why = shadow.challenger_policy("credit_risk_model:doesnotexist")
    assert policy is None and why is not None
    fields = shadow.failed_fields("credit_risk_model:doesnotexist", 2, "x" * 500)
    assert fields == [{"model_tag": "credit_risk_model:doesnotexist", "error": "x" * 200}] * 2


def test_the_state_logs_once_per_change(caplog: pytest.LogCaptureFixture) -> None:
    state = shadow.ShadowState("credit_risk_model:c")
    with caplog.at_level(logging.WARNING, logger=shadow.__name__):
        state.scored()
        state.failed("boom")
        state.failed("boom")
        state.failed("boom")
        state.scored()
        state.scored()
    assert [r.getMessage() for r in caplog.records] == [
        "Challenger credit_risk_model:c failed (boom); decisions go on without it",
        "Challenger credit_risk_model:c scores again",
    ]


def test_the_stored_policy_is_the_challengers_own(trained_model: str) -> None:
    policy, error = shadow.challenger_policy(trained_model)
    stored = load_from_store(bentoml.models.get(trained_model), nthread=1, compile_explainer=False)
    assert error is None and policy == stored.policy


def test_a_batch_challenger_scores_as_champion_and_a_missing_one_says_so(
    trained_model: str, course_frame: pd.DataFrame
) -> None:
    features = encode_columns(course_frame.head(50))
    present = shadow.BatchChallenger(trained_model, nthread=1)
    served = load_from_store(bentoml.models.get(trained_model), nthread=1)
    expected = DecisionMaker(served.tag, served.policy, served.training_ranges).decide_columns(
        features, served.explain(features)
    )
    assert [f["status"] for f in present.fields(features)] == expected.status
    missing = shadow.BatchChallenger("credit_risk_model:doesnotexist", nthread=1)
    fields = missing.fields(features)
    assert len(fields) == 50 and all(f["error"].startswith("not loaded") for f in fields)
