"""The container: built by ``bentoml containerize``, run with ``docker run``, stopped cleanly.

The classify suites also run against this image: the ``container`` value of the
``server`` fixture (see conftest.py). The image is built once per session on the
offline base image and removed at the end, as is every container started here.
"""

from __future__ import annotations

import json
import re
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path

import bentoml
import httpx
import pandas as pd
import pytest

from credit_risk.features import encode_columns
from credit_risk.model.store import load_from_store
from credit_risk.schema import COURSE_EXAMPLE, MAX_BATCH_SIZE, Decision
from credit_risk.serving.webapp import PAGE_PATH
from tests.support.ci import announce
from tests.support.containers import ContainerImage, docker, start_service_container

pytestmark = pytest.mark.container

IMAGE_SIZE_LIMIT_MB = 600
"""Measured 1.08 GB on the offline base: BentoML 1.4's image layout installs
build-essential and git (583 MB here) before the wheels, which need neither. The goal,
600 MB, needs the image declared on the service (512 MB; see docs/container.md);
lower this limit to 600 with it."""

READY_LIMIT_S = 30
"""From ``docker run`` to ``/readyz`` answering 200; measured about 3 s."""

IN_FLIGHT = 8
"""Full batches posted just before ``docker stop``: about 3 s of work for 2 workers."""

ERROR_IN_LOG = re.compile(r"Traceback|\[ERROR\]|\[CRITICAL\]")


def test_image_size_is_reported_and_within_limit(
    request: pytest.FixtureRequest, container_image: ContainerImage
) -> None:
    size_mb = container_image.size_bytes / 1e6
    history = docker("history", "--no-trunc", "--format", "{{json .}}", container_image.name)
    layers = [json.loads(line) for line in history.splitlines()]
    largest = sorted(layers, key=lambda layer: _bytes(layer["Size"]), reverse=True)[:3]
    announce(
        request.config,
        f"image size {size_mb:.0f} MB; largest layers: "
        + "; ".join(f"{layer['Size']} {_step(layer['CreatedBy'])}" for layer in largest),
    )
    assert size_mb <= IMAGE_SIZE_LIMIT_MB


def _bytes(size: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)([kMG]?B)", size).groups()  # type: ignore[union-attr]
    return float(number) * {"B": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9}[unit]


def _step(created_by: str) -> str:
    """The Dockerfile step of a layer, without its build arguments, shortened."""
    step = " ".join(created_by.rpartition("/bin/sh -c ")[2].split()) or "(base image)"
    return step if len(step) <= 70 else step[:69] + "…"


def _offline_decision(model_tag: str, application: dict[str, object]) -> tuple[float, str]:
    served = load_from_store(bentoml.models.get(model_tag), nthread=1)
    probability = float(
        served.booster.inplace_predict(encode_columns(pd.DataFrame([application])))[0]
    )
    return probability, served.policy.status(probability)


def test_container_is_ready_classifies_and_drains_on_docker_stop(
    request: pytest.FixtureRequest,
    tmp_root: Path,
    container_image: ContainerImage,
) -> None:
    server = start_service_container(tmp_root, container_image.name)
    announce(request.config, f"{server}: /readyz answered 200 after {server.ready_seconds:.1f} s")
    try:
        assert server.ready_seconds <= READY_LIMIT_S

        response = httpx.post(f"{server.url}/classify", json=COURSE_EXAMPLE, timeout=30)
        assert response.status_code == 200, response.text
        decision = Decision.model_validate(response.json())
        # The model the bento packed: the store's latest when it was built.
        [packed] = bentoml.get(container_image.bento_tag).info.models
        probability, status = _offline_decision(str(packed.tag), COURSE_EXAMPLE)
        announce(
            request.config,
            f"POST /classify (course example): {decision.status}, default probability "
            f"{decision.default_probability:.4f}, score {decision.score}, model "
            f"{decision.model_tag}; the offline model says {status}, {probability:.4f}",
        )
        assert decision.model_tag == str(packed.tag)
        assert decision.default_probability == pytest.approx(probability, abs=1e-6)
        assert decision.status == status

        # The loan officer's page came along in the image (tests/e2e/test_webapp.py drives it).
        page = httpx.get(f"{server.url}{PAGE_PATH}/", timeout=30)
        script = httpx.get(f"{server.url}{PAGE_PATH}/app.js", timeout=30)
        announce(
            request.config,
            f"GET {PAGE_PATH}/: {page.status_code}, {len(page.content)} bytes; "
            f"app.js: {script.status_code}, {len(script.content)} bytes",
        )
        assert page.status_code == script.status_code == 200
        assert "<title>Credit decisions</title>" in page.text
        assert page.headers["content-security-policy"].startswith("default-src 'none'")

        batch = {"applications": [COURSE_EXAMPLE] * MAX_BATCH_SIZE}
        with ThreadPoolExecutor(IN_FLIGHT) as pool, httpx.Client(timeout=60) as http:

            def post() -> tuple[int, float]:
                answer = http.post(f"{server.url}/classify_batch", json=batch)
                return answer.status_code, time.monotonic()

            pending = [pool.submit(post) for _ in range(IN_FLIGHT)]
            # SIGTERM once the first batch is answered: the others are sent and being
            # decided (a fixed pause let all eight finish first once explaining got fast).
            wait(pending, return_when=FIRST_COMPLETED)
            stopping = time.monotonic()
            exit_code = server.stop()
            stop_seconds = time.monotonic() - stopping
            answers = [future.result() for future in pending]
    finally:
        docker("rm", "--force", server.container_id, check=False)

    answered_after_sigterm = sum(done > stopping for _, done in answers)
    errors = ERROR_IN_LOG.findall(server.log())
    announce(
        request.config,
        f"docker stop with {IN_FLIGHT} batches in flight: answers {[c for c, _ in answers]} "
        f"({answered_after_sigterm} after SIGTERM), exit code {exit_code} after "
        f"{stop_seconds:.1f} s, errors in log: {len(errors)}; container removed",
    )
    assert [code for code, _ in answers] == [200] * IN_FLIGHT
    assert answered_after_sigterm > 0, "no request was in flight when SIGTERM came"
    assert exit_code == 0
    assert not errors, server.log()
    assert not docker("ps", "--all", "--quiet", "--filter", f"id={server.container_id}")
