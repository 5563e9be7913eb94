"""Docker for the tests: the CLI, the ``bentoml`` CLI that builds images, and one ``docker run``.

``start_container`` is the only ``docker run -d`` of the tests: the service
(``start_service_container``), the image run as Lambda runs it and as SageMaker runs
it all go through it with their own ``ContainerOptions``. A plain module (no pytest):
the fixtures that skip or fail without an engine are in ``tests/conftest.py``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from tests.support.servers import BENTOML_CLI, ROOT, Server, wait_ready

BENTO_BUILD_TIMEOUT_S: Final = 600
CONTAINERIZE_TIMEOUT_S: Final = 1800
BASE_IMAGE: Final = "credit-risk-base:bookworm"
"""The offline base image, as deploy/container/build-base-image.sh and
deploy/container/bentofile.offline.yaml name it."""
CONTAINER_STOP_TIMEOUT_S: Final = 30
SERVICE_PORT: Final = 3000
"""The port ``bentoml serve`` listens on in the image."""
MONITORING_MOUNT: Final = "/home/bentoml/monitoring"
"""The image's monitoring directory, where decision records go."""


def docker(*args: str, timeout: float = 120, check: bool = True) -> str:
    """Run the ``docker`` CLI; returns its standard output."""
    result = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and result.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)} exited {result.returncode}: {result.stderr}")
    return result.stdout.strip()


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


def build_bento(bentofile: str, env: dict[str, str] | None = None) -> str:
    """The release's bento, ``python -m credit_risk.governance build -f BENTOFILE`` (the
    bentofile with the release's models aliased), in the temporary store; its tag."""
    result = subprocess.run(
        [sys.executable, "-m", "credit_risk.governance", "build", "-f", bentofile],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=BENTO_BUILD_TIMEOUT_S,
        check=False,
        # As run_bentoml: uv locks the bento's packages with the system's certificates.
        env={"UV_SYSTEM_CERTS": "1", **os.environ, "COLUMNS": "1000", **(env or {})},
    )
    assert result.returncode == 0, f"build exited {result.returncode}:\n{result.stderr}"
    return result.stdout.strip().splitlines()[-1]


@dataclass(frozen=True)
class ContainerImage:
    """An image that ``bentoml containerize`` built from the offline bento."""

    name: str
    bento_tag: str
    build_seconds: float
    size_bytes: int


def containerize(bento: str) -> ContainerImage:
    """``bentoml containerize`` the bento with the classic builder (no BuildKit here)."""
    started = time.monotonic()
    run_bentoml("containerize", bento, env={"DOCKER_BUILDKIT": "0"}, timeout=CONTAINERIZE_TIMEOUT_S)
    return ContainerImage(
        name=bento,  # `bentoml containerize` tags the image as the bento
        bento_tag=bento,
        build_seconds=time.monotonic() - started,
        size_bytes=int(docker("image", "inspect", "-f", "{{.Size}}", bento)),
    )


@dataclass(frozen=True)
class ContainerOptions:
    """What ``docker run`` is told: the image, its command and environment, and the rest."""

    image: str
    purpose: str = "container"
    """Part of the container's name, ``credit-risk-test-<purpose>-<8 hex>``."""
    command: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    publish: int | None = SERVICE_PORT
    """The container port published on an ephemeral loopback port (Port 3000 may be
    taken on a shared machine: Docker picks one); ``None`` publishes nothing."""
    monitoring_dir: Path | None = None
    """A host folder mounted at the image's monitoring directory, made writable by the
    image's ``bentoml`` user."""
    run_args: tuple[str, ...] = ()
    """Further ``docker run`` options (``--read-only``, ``--user``, ``--network``...)."""


@dataclass
class Container:
    """A container that ``docker run --detach`` started; ``follower`` copies its log."""

    container_id: str
    name: str
    url: str
    """``http://127.0.0.1:<published port>``, or empty when nothing is published."""
    log_path: Path
    follower: subprocess.Popen[bytes]

    def remove(self) -> None:
        """``docker rm --force`` the container and wait for its log to end."""
        docker("rm", "--force", self.container_id, check=False)
        self.follower.wait(timeout=30)


def follow_logs(container_id: str, log_path: Path) -> subprocess.Popen[bytes]:
    """``docker logs --follow`` the container into ``log_path``; ends with the container."""
    with log_path.open("wb") as log:
        return subprocess.Popen(
            ["docker", "logs", "--follow", container_id],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def start_container(tmp_root: Path, options: ContainerOptions) -> Container:
    """``docker run --detach`` as ``options`` say and follow its log into ``tmp_root``;
    the container is removed again if that fails."""
    name = f"credit-risk-test-{options.purpose}-{uuid.uuid4().hex[:8]}"
    mounts: list[str] = []
    if options.monitoring_dir is not None:
        options.monitoring_dir.mkdir(parents=True, exist_ok=True)
        options.monitoring_dir.chmod(0o777)
        mounts = ["--volume", f"{options.monitoring_dir}:{MONITORING_MOUNT}"]
    published = [] if options.publish is None else ["--publish", f"127.0.0.1::{options.publish}"]
    env_args = [arg for key, value in options.env.items() for arg in ("-e", f"{key}={value}")]
    container_id = docker(
        "run",
        "--detach",
        "--name",
        name,
        *published,
        *mounts,
        *options.run_args,
        *env_args,
        options.image,
        *options.command,
    )
    try:
        url = ""
        if options.publish is not None:
            port = docker("port", container_id, f"{options.publish}/tcp").splitlines()[0]
            url = f"http://127.0.0.1:{port.rpartition(':')[2]}"
        follower = follow_logs(container_id, tmp_root / f"{name}.log")
    except BaseException:
        docker("rm", "--force", container_id, check=False)
        raise
    return Container(container_id, name, url, tmp_root / f"{name}.log", follower)


@dataclass
class ContainerServer(Server):
    """The containerized service, published on an ephemeral loopback port.

    ``process`` follows the container's log into ``log_path``; it ends when the
    container does.
    """

    container_id: str = ""
    image: str = ""

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


def start_service_container(
    tmp_root: Path, image: str, extra_env: Mapping[str, str] | None = None
) -> ContainerServer:
    """The image's ``bentoml serve`` on an ephemeral loopback port; waits for ``/readyz``.

    Decision records go to a host folder, ``tmp_root/monitoring/<container name>``.
    """
    started = time.monotonic()
    monitoring_dir = tmp_root / "monitoring" / f"container-{uuid.uuid4().hex[:8]}"
    container = start_container(
        tmp_root,
        ContainerOptions(image, env=dict(extra_env or {}), monitoring_dir=monitoring_dir),
    )
    server = ContainerServer(
        url=container.url,
        process=container.follower,
        topology="container",
        monitoring_dir=monitoring_dir,
        log_path=container.log_path,
        container_id=container.container_id,
        image=image,
    )
    try:
        wait_ready(server.url, container.follower, container.log_path)
    except BaseException:
        server.stop()
        raise
    server.ready_seconds = time.monotonic() - started
    return server
