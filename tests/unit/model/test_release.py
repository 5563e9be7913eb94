"""The release names the champion and the challenger, through BentoML's own alias map:
training never changes it, only an explicit act does."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import bentoml
import pytest
from bentoml._internal.configuration.containers import BentoMLContainer

from credit_risk.model import DEFAULT_MODEL_TAG, release
from credit_risk.model.store import load_from_store, save_to_store


@pytest.fixture
def no_aliases() -> Iterator[None]:
    """BentoML's alias map empty for the test, as in a source tree, restored after."""
    held = dict(BentoMLContainer.model_aliases.get())
    BentoMLContainer.model_aliases.set({})
    yield
    BentoMLContainer.model_aliases.set(held)


def _new_version(tag: str) -> str:
    """Another version of the model, saved as training saves one (it becomes latest)."""
    served = load_from_store(bentoml.models.get(tag), nthread=1, compile_explainer=False)
    return str(save_to_store(served.booster, served.metadata).tag)


def test_a_first_resolve_pins_the_newest_and_training_then_changes_nothing(
    trained_model: str, tmp_path: Path, no_aliases: None
) -> None:
    path = tmp_path / "release.json"
    newest = str(bentoml.models.get(DEFAULT_MODEL_TAG).tag)
    assert release.resolve(release_file=str(path)) == release.Release(newest)
    assert json.loads(path.read_text()) == {"champion": newest, "challenger": None}
    newer = _new_version(trained_model)
    try:
        assert str(bentoml.models.get(DEFAULT_MODEL_TAG).tag) == newer
        BentoMLContainer.model_aliases.set({})  # a restart
        assert release.resolve(release_file=str(path)).champion == newest
        assert str(bentoml.models.get(release.CHAMPION).tag) == newest
    finally:
        bentoml.models.delete(newer)


def test_a_bentos_aliases_win_over_the_release_file(
    trained_model: str, tmp_path: Path, no_aliases: None
) -> None:
    path = tmp_path / "release.json"
    release.write_release(path, release.Release("credit_risk_model:elsewhere"))
    BentoMLContainer.model_aliases.set({"champion": trained_model})
    assert release.resolve(release_file=str(path)) == release.Release(trained_model)
    assert str(bentoml.models.get("champion").tag) == trained_model


def test_the_settings_override_and_a_challenger_joins_any_champion(
    trained_model: str, tmp_path: Path, no_aliases: None
) -> None:
    path = tmp_path / "release.json"
    release.write_release(path, release.Release(trained_model))
    resolved = release.resolve(challenger="credit_risk_model:other", release_file=str(path))
    assert resolved == release.Release(trained_model, "credit_risk_model:other")
    assert BentoMLContainer.model_aliases.get()["challenger"] == "credit_risk_model:other"
    overridden = release.resolve(champion="credit_risk_model:pinned", release_file=str(path))
    assert overridden.champion == "credit_risk_model:pinned"


def test_a_malformed_release_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "release.json"
    path.write_text('{"champion": 7}')
    with pytest.raises(ValueError, match="names a champion"):
        release.read_release(path)
