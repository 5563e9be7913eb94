"""The e2e tier's fixtures: the service under test as a real ``bentoml serve`` on loopback.

Every test that takes ``server`` runs against each of ``SERVER_KINDS``, and the classify
suites also against the containerized bento (marked ``container``).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import httpx
import pytest

from tests.support.ci import announce, in_ci
from tests.support.containers import ContainerImage, ContainerServer, start_service_container
from tests.support.servers import Server, start_server

SERVER_KINDS: Final = ("embedded", "remote", "bento")
"""Every test that takes ``server`` runs against each: the source tree in both
topologies, and ``bentoml serve`` of the bento that ``bentoml build`` made."""

CONTAINER_SUITES: Final = frozenset({"test_service", "test_validation"})
"""Modules whose tests also run against the containerized bento (the classify
suites). Others, such as process-memory checks, need a server process on this host."""


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize ``server`` over ``SERVER_KINDS`` (or a test's ``server_kinds`` marker),
    plus ``container`` in the classify suites."""
    if "server" not in metafunc.fixturenames:
        return
    only = metafunc.definition.get_closest_marker("server_kinds")
    kinds: list[object] = list(only.args if only is not None else SERVER_KINDS)
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
        running = start_service_container(tmp_root, image.name)
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


@pytest.fixture(scope="session")
def java() -> Iterator[None]:
    """Java 17 or later for Spark, which `make spark-java` installs (as root)."""
    version = (
        subprocess.run(["java", "-version"], capture_output=True, text=True, check=False).stderr
        if shutil.which("java")
        else ""
    )
    if not re.search(r'version "(1[7-9]|[2-9][0-9])', version):
        message = (
            f"Spark needs Java 17: run `make spark-java` (as root); java -version: {version!r}"
        )
        if in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    yield
