"""Fixtures: a temporary model store, a trained model, and real servers on loopback.

BENTOML_HOME is set before anything imports BentoML, so no test touches the
user's store.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

_TMP = Path(tempfile.mkdtemp(prefix="credit-risk-tests-"))
os.environ["BENTOML_HOME"] = str(_TMP / "bentoml")
os.environ["BENTOML_DO_NOT_TRACK"] = "true"
for _name in list(os.environ):
    if _name.startswith("CREDIT_RISK_"):
        del os.environ[_name]

import httpx  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from credit_risk.data import load_credit_data  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED_CSV = ROOT.parent / "shared" / "data" / "CreditScoring.csv"
CANONICAL_SHA256 = "b42d4fb62b3c1e3428b295d1f152e71ec79e003f86cfa23d7ddb1fc7ea1f624f"
SERVER_START_TIMEOUT_S = 90


@pytest.fixture(scope="session")
def tmp_root() -> Path:
    """A scratch folder for the whole session."""
    return _TMP


@pytest.fixture(scope="session")
def shared_csv() -> Path:
    """The canonical CreditScoring.csv beside the project."""
    if not SHARED_CSV.is_file():
        pytest.fail(f"{SHARED_CSV} is missing: the tests need ../shared/data beside the project")
    return SHARED_CSV


@pytest.fixture(scope="session")
def course_frame(shared_csv: Path) -> pd.DataFrame:
    """The clean frame of the canonical data."""
    return load_credit_data(shared_csv)


def run_train(tmp_root: Path, shared_csv: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``train.py`` for real on the canonical data, in the temporary store."""
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "train.py"),
            "--data-dir",
            str(shared_csv.parent),
            "--reports-dir",
            str(tmp_root / "reports"),
            *args,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**os.environ, "COLUMNS": "120"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.fixture(scope="session")
def trained_model(tmp_root: Path, shared_csv: Path) -> str:
    """Train once with ``train.py`` and return the saved tag."""
    import bentoml

    output = run_train(tmp_root, shared_csv).stdout
    tag = str(bentoml.models.get("credit_risk_model:latest").tag)
    assert tag in output.replace("\n", "")
    return tag


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Server:
    """A running ``bentoml serve`` on loopback."""

    url: str
    process: subprocess.Popen[bytes]
    topology: str
    monitoring_dir: Path
    log_path: Path

    def log(self) -> str:
        """What the server printed so far."""
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM the whole process group and wait; returns the exit code."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        return self.process.returncode


def wait_ready(
    url: str, process: subprocess.Popen[bytes] | None, log: Path, timeout: float
) -> float:
    """Poll ``/readyz`` until it answers 200; returns the seconds it took."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return time.monotonic() - started
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} not ready after {timeout} s:\n{log.read_text()}")


def start_server(
    tmp_root: Path, topology: str, serve_target: str = ".", extra_env: dict[str, str] | None = None
) -> Server:
    """Start ``bentoml serve`` in its own process group, on a free loopback port."""
    port = free_port()
    name = f"{topology}-{port}"
    monitoring_dir = tmp_root / "monitoring" / name
    log_path = tmp_root / f"server-{name}.log"
    env = {
        **os.environ,
        "CREDIT_RISK_TOPOLOGY": topology,
        "CREDIT_RISK_MONITORING_DIR": str(monitoring_dir),
        **(extra_env or {}),
    }
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "bentoml"),
                "serve",
                serve_target,
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(f"http://127.0.0.1:{port}", process, topology, monitoring_dir, log_path)
    try:
        wait_ready(server.url, process, log_path, SERVER_START_TIMEOUT_S)
    except BaseException:
        server.stop()
        raise
    return server


@pytest.fixture(scope="session", params=["embedded", "remote"])
def server(request: pytest.FixtureRequest, tmp_root: Path, trained_model: str) -> Iterator[Server]:
    """The service from the source tree, in each topology."""
    running = start_server(tmp_root, request.param)
    yield running
    running.stop()


@pytest.fixture
def client(server: Server) -> Iterator[httpx.Client]:
    """An HTTP client bound to the server under test."""
    with httpx.Client(base_url=server.url, timeout=30) as http:
        yield http
