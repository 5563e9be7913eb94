"""A release's bento: the bentofile with the release's exact tags as BentoML's aliased
``models:`` entries, read back by BentoML itself."""

from __future__ import annotations

from pathlib import Path

from bentoml._internal.bento.build_config import BentoBuildConfig

from credit_risk.governance.bento import release_bentofile
from credit_risk.model import DEFAULT_MODEL_TAG
from credit_risk.model.release import Release
from tests.support.servers import ROOT


def test_bentoml_reads_the_release_as_its_aliases(trained_model: str, tmp_path: Path) -> None:
    bentofile = tmp_path / "bentofile.yaml"
    bentofile.write_text(
        release_bentofile(ROOT / "bentofile.yaml", Release(DEFAULT_MODEL_TAG, trained_model))
    )
    config = BentoBuildConfig.from_file(str(bentofile))
    # latest is resolved at build time: a release names versions.
    assert config.model_aliases == {"champion": trained_model, "challenger": trained_model}
    assert config.service == "service:CreditRiskClassifier"


def test_the_repositorys_bentofiles_name_no_model() -> None:
    for path in (ROOT / "bentofile.yaml", ROOT / "deploy/container/bentofile.offline.yaml"):
        assert BentoBuildConfig.from_file(str(path)).models == [], path
