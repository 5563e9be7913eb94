"""Three replicas behind HAProxy, under steady load: stop, crash, roll forward, roll back.

Everything a cluster does to the container, done with Docker on loopback. The replicas
run as the production overlay's Deployment says (user, read-only root, writable
volumes, settings from the ConfigMap, API key, memory limit; one API worker each here),
behind deploy/docker/haproxy.cfg, moved by deploy/docker/rolling_update.py, the
operators' script. Locust (locustfile.py, paced, one JSON line per request) drives the
frontend throughout, and every request is counted and put in the phase it started in:

* (a) graceful stop: drained through HAProxy's runtime API, then ``docker stop``;
* (b) crash: ``docker kill``; only requests in flight at the kill may fail;
* (c) rolling update to an image with another model, one replica at a time;
* (d) rollback to the first image, the same way.

Zero failures in (a), (c) and (d); after (c) every decision carries the new model's
tag, after (d) the old one's, read from the responses.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bentoml
import pytest

from credit_risk.training.data import Dataset
from deploy.docker.rolling_update import Balancer
from deploy.kubernetes.check_manifests import render
from tests.conftest import (
    ROOT,
    ContainerImage,
    announce,
    docker,
    free_port,
    in_ci,
    run_bentoml,
    run_train,
)

pytestmark = pytest.mark.container

ROLLING_UPDATE = ROOT / "deploy" / "docker" / "rolling_update.py"
HAPROXY_CONFIG = ROOT / "deploy" / "docker" / "haproxy.cfg"
PRODUCTION = ROOT / "deploy" / "kubernetes" / "overlays" / "production"
REPLICAS = 3
API_KEY = "replica-test-key-0123456789abcdef"
USERS = 6
RATE_PER_USER = 5.0
"""30 requests per second in all: steady, and well within what 3 replicas of one
worker answer on 2 shared cores."""
SETTLE_S = 3.0
"""Steady traffic before the first phase, and after (c) and (d) to read the tags."""


@pytest.fixture(scope="module")
def haproxy(docker_engine: None) -> str:
    """HAProxy's binary: Debian's package, which `make haproxy` installs (as root)."""
    binary = shutil.which("haproxy")
    if binary is None:
        reason = "no HAProxy: run `make haproxy` (as root) or apt-get install haproxy"
        if in_ci():
            pytest.fail(f"CI must run the replica test, but {reason}", pytrace=False)
        pytest.skip(reason)
    return binary


@pytest.fixture(scope="module")
def next_image(
    request: pytest.FixtureRequest,
    tmp_root: Path,
    training_data: Dataset,
    container_image: ContainerImage,
) -> Iterator[ContainerImage]:
    """A second image with a newer model: trained and built in a store of its own, so the
    session's store (and its ``credit_risk_model:latest``) stays as the other tests expect."""
    home = {"BENTOML_HOME": str(tmp_root / "bentoml-next")}
    run_train(
        tmp_root, training_data.path, "--reports-dir", str(tmp_root / "reports-next"), env=home
    )
    started = time.monotonic()
    output = run_bentoml(
        "build", "-f", "deploy/container/bentofile.offline.yaml", "-o", "tag", env=home
    )
    bento = output.stdout.strip().rpartition("__tag__:")[2]
    run_bentoml("containerize", bento, env={**home, "DOCKER_BUILDKIT": "0"}, timeout=1800)
    image = ContainerImage(
        name=bento,
        bento_tag=bento,
        build_seconds=time.monotonic() - started,
        size_bytes=int(docker("image", "inspect", "-f", "{{.Size}}", bento)),
    )
    announce(request.config, f"second image {bento} built in {image.build_seconds:.0f} s")
    yield image
    docker("image", "rm", bento, check=False)


def _model_tag(bento_tag: str, env: dict[str, str] | None = None) -> str:
    info = json.loads(run_bentoml("get", bento_tag, "-o", "json", env=env).stdout)
    [model] = info["models"]
    return str(model["tag"])


def pod_as_docker_options(
    resources: list[dict[str, Any]], name: str, port: int, records: Path
) -> list[str]:
    """``docker run`` options for the Deployment's container, as a kubelet would run it."""
    deployment = next(r for r in resources if r["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    [container] = pod["containers"]
    context = {**pod.get("securityContext", {}), **container.get("securityContext", {})}
    config_maps = {r["metadata"]["name"]: r["data"] for r in resources if r["kind"] == "ConfigMap"}
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env.update(config_maps[source["configMapRef"]["name"]])
    for variable in container.get("env", []):
        source = variable.get("valueFrom", {})
        if "secretKeyRef" in source:
            env[variable["name"]] = API_KEY
        elif "fieldRef" in source:
            env[variable["name"]] = name  # metadata.name, the pod's name
        else:
            env[variable["name"]] = variable["value"]
    env["CREDIT_RISK_API_WORKERS"] = "1"  # 3 replicas on 2 cores
    options = [
        "--publish",
        f"127.0.0.1:{port}:{container['ports'][0]['containerPort']}",
        "--user",
        f"{context['runAsUser']}:{context['runAsGroup']}",
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges",
        "--memory",
        str(int(_mebibytes(container["resources"]["limits"]["memory"]))) + "m",
    ]
    if context.get("readOnlyRootFilesystem"):
        options.append("--read-only")
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    for mount in container["volumeMounts"]:
        volume = volumes[mount["name"]]
        if "emptyDir" in volume:
            size = volume["emptyDir"].get("sizeLimit", "64Mi")
            options += ["--tmpfs", f"{mount['mountPath']}:size={int(_mebibytes(size))}m"]
        else:  # the decision records' claim: a host folder per replica
            options += ["--volume", f"{records}:{mount['mountPath']}"]
    for key, value in sorted(env.items()):
        options += ["--env", f"{key}={value}"]
    return options


def _mebibytes(quantity: str) -> float:
    return (
        float(quantity.removesuffix("Mi")) if quantity.endswith("Mi") else float(quantity) / 2**20
    )


@dataclass
class Phase:
    """A stretch of the run; requests belong to the phase they started in."""

    name: str
    start: float
    end: float = 0.0
    requests: list[dict[str, Any]] = field(default_factory=list)

    @property
    def failures(self) -> list[dict[str, Any]]:
        """The requests that failed."""
        return [r for r in self.requests if not r["ok"]]

    def p99_ms(self) -> float:
        """The 99th percentile of latency, every request of the phase."""
        latencies = sorted(r["ms"] for r in self.requests)
        return latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))] if latencies else 0.0

    def model_tags(self) -> set[str]:
        """Every model tag in the phase's decisions."""
        return {tag for r in self.requests for tag in r["model_tags"]}


class Rollout:
    """The three replicas, HAProxy and locust of one run; phases are timed here."""

    def __init__(self, tmp_root: Path, haproxy: str, socket_path: Path) -> None:
        self.tmp_root = tmp_root
        self.haproxy_binary = haproxy
        self.socket = socket_path
        self.balancer = Balancer(str(socket_path))
        self.run_id = uuid.uuid4().hex[:6]
        self.pairs = [
            f"replica-{i}=credit-risk-test-replica-{self.run_id}-{i}"
            for i in range(1, REPLICAS + 1)
        ]
        self.processes: list[subprocess.Popen[bytes]] = []
        self.phases: list[Phase] = []

    def container(self, index: int) -> str:
        """The name of replica ``index`` (from 1)."""
        return self.pairs[index - 1].partition("=")[2]

    def operator(self, *args: str) -> list[dict[str, Any]]:
        """``rolling_update.py --json ARGS``: its steps, one JSON object each."""
        result = subprocess.run(
            [sys.executable, str(ROLLING_UPDATE), "--socket", str(self.socket), "--json", *args],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]

    def spawn(self, command: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
        """A background process of this run, its output in ``log``; ended at teardown."""
        with log.open("wb") as output:
            process = subprocess.Popen(
                command,
                cwd=ROOT,
                env={**os.environ, **env},
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes.append(process)
        return process

    def begin(self, name: str) -> Phase:
        """Close the current phase and open the next one now."""
        now = time.time()
        if self.phases:
            self.phases[-1].end = now
        self.phases.append(Phase(name, now))
        return self.phases[-1]

    def teardown(self) -> None:
        """Stop what this run started, by process and container name."""
        for process in reversed(self.processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        for index in range(1, REPLICAS + 1):
            docker("rm", "--force", self.container(index), check=False)


@pytest.fixture
def rollout(tmp_root: Path, haproxy: str) -> Iterator[Rollout]:
    """A run's processes and containers, removed whatever the outcome."""
    work = tmp_root / f"replicas-{uuid.uuid4().hex[:6]}"
    work.mkdir()
    run = Rollout(work, haproxy, work / "haproxy.sock")
    try:
        yield run
    finally:
        run.teardown()


def _wait_all_up(balancer: Balancer, timeout: float = 60) -> None:
    for index in range(1, REPLICAS + 1):
        balancer.wait(f"replica-{index}", "up", timeout)


def _wait_down(balancer: Balancer, server: str, timeout: float = 30) -> float:
    started = time.monotonic()
    while not balancer.server(server)["status"].startswith("DOWN"):
        assert time.monotonic() - started < timeout, balancer.server(server)
        time.sleep(0.05)
    return time.monotonic() - started


def _wait_requests(log: Path, count: int, timeout: float = 60) -> None:
    started = time.monotonic()
    while not log.exists() or sum(1 for _ in log.open()) < count:
        assert time.monotonic() - started < timeout, "locust sends no requests"
        time.sleep(0.2)


def test_replicas_survive_stop_crash_rolling_update_and_rollback(
    request: pytest.FixtureRequest,
    rollout: Rollout,
    container_image: ContainerImage,
    next_image: ContainerImage,
) -> None:
    old_image, new_image = container_image.name, next_image.name
    old_tag = str(bentoml.get(old_image).info.models[0].tag)
    new_tag = _model_tag(new_image, {"BENTOML_HOME": str(rollout.tmp_root.parent / "bentoml-next")})
    assert old_tag != new_tag

    # The replicas, as the production Deployment runs its pods.
    resources = render(PRODUCTION)
    ports = [free_port() for _ in range(REPLICAS)]
    for index, port in enumerate(ports, start=1):
        name = rollout.container(index)
        records = rollout.tmp_root / "records" / name
        records.mkdir(parents=True)
        records.chmod(0o777)
        options = pod_as_docker_options(resources, name, port, records)
        subprocess.run(
            [sys.executable, str(ROLLING_UPDATE), "start", name, old_image, "--", *options],
            check=True,
            capture_output=True,
            timeout=120,
        )

    frontend = f"127.0.0.1:{free_port()}"
    lb_env = {
        "CREDIT_RISK_LB_BIND": frontend,
        "CREDIT_RISK_LB_SOCKET": str(rollout.socket),
        **{f"CREDIT_RISK_REPLICA_{i}": f"127.0.0.1:{p}" for i, p in enumerate(ports, start=1)},
    }
    rollout.spawn(
        [rollout.haproxy_binary, "-db", "-f", str(HAPROXY_CONFIG)],
        rollout.tmp_root / "haproxy.log",
        lb_env,
    )
    deadline = time.monotonic() + 30
    while not rollout.socket.exists():
        assert time.monotonic() < deadline, (rollout.tmp_root / "haproxy.log").read_text()
        time.sleep(0.1)
    _wait_all_up(rollout.balancer, timeout=120)

    request_log = rollout.tmp_root / "requests.jsonl"
    stats_prefix = rollout.tmp_root / "locust"
    rollout.begin("warm-up")
    locust = rollout.spawn(
        [
            str(Path(sys.executable).parent / "locust"),
            "-f",
            "locustfile.py",
            "--host",
            f"http://{frontend}",
            "--headless",
            "--users",
            str(USERS),
            "--spawn-rate",
            str(USERS),
            "--run-time",
            "600s",
            "--rate-per-user",
            str(RATE_PER_USER),
            "--request-log",
            str(request_log),
            "--csv",
            str(stats_prefix),
            "--api-key",
            API_KEY,
            "--slo-max-error-ratio",
            "1",
            "--slo-p99-ms",
            "1e9",
        ],
        rollout.tmp_root / "locust.log",
        {},
    )
    _wait_requests(request_log, USERS * 3)
    rollout.begin("steady")
    time.sleep(SETTLE_S)
    stats = docker(
        "stats",
        "--no-stream",
        "--format",
        "{{.Name}} {{.CPUPerc}} {{.MemUsage}}",
        *(rollout.container(i) for i in range(1, REPLICAS + 1)),
    )

    # (a) graceful stop of replica 1, through the load balancer; then it comes back.
    rollout.begin("a: docker stop (drained)")
    [stopped] = rollout.operator("stop", rollout.pairs[0])
    time.sleep(1)
    rollout.operator("replace", rollout.pairs[0])

    # (b) crash of replica 2; HAProxy's health check takes it out; then it comes back.
    rollout.begin("b: docker kill")
    kill_started = time.time()
    docker("kill", rollout.container(2))
    kill_done = time.time()
    detected_s = _wait_down(rollout.balancer, "replica-2")
    time.sleep(1)
    rollout.operator("replace", rollout.pairs[1])

    # (c) rolling update to the newer model's image; (d) rollback, the same way.
    rollout.begin("c: rolling update")
    rolled = time.monotonic()
    update_steps = rollout.operator("replace", "--image", new_image, *rollout.pairs)
    update_s = time.monotonic() - rolled
    rollout.begin("after c")
    time.sleep(SETTLE_S)
    rollout.begin("d: rollback")
    rolled = time.monotonic()
    rollback_steps = rollout.operator("replace", "--image", old_image, *rollout.pairs)
    rollback_s = time.monotonic() - rolled
    rollout.begin("after d")
    status_command = [sys.executable, str(ROLLING_UPDATE), "--socket", str(rollout.socket)]
    status = subprocess.run(
        [*status_command, "status", *rollout.pairs],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    time.sleep(SETTLE_S)
    rollout.begin("end")
    time.sleep(3)  # let the last phase's requests finish before locust stops
    locust.send_signal(signal.SIGTERM)
    locust.wait(timeout=60)

    requests = [json.loads(line) for line in request_log.read_text().splitlines()]
    with (stats_prefix.parent / f"{stats_prefix.name}_stats.csv").open() as stats_file:
        [aggregated] = [row for row in csv.DictReader(stats_file) if row["Name"] == "Aggregated"]
    phases = rollout.phases
    phases[-1].end = float("inf")
    for entry in requests:
        for phase in phases:
            if phase.start <= entry["start"] < phase.end:
                phase.requests.append(entry)
    by_name = {phase.name: phase for phase in phases}
    kill = by_name["b: docker kill"]
    in_flight_at_kill = [
        r
        for r in kill.requests + by_name["a: docker stop (drained)"].requests
        if r["start"] < kill_done and r["start"] + r["ms"] / 1000 > kill_started
    ]
    counted = sum(len(phase.requests) for phase in phases)

    lines = [
        f"{counted} requests in the phases ({len(requests)} logged, locust counted "
        f"{aggregated['Request Count']}, {aggregated['Failure Count']} failed) at "
        f"{USERS * RATE_PER_USER:.0f}/s; images {old_image} (model {old_tag}) and "
        f"{new_image} (model {new_tag})",
        "phase                      requests  failures  p99 ms  model tags",
    ]
    for phase in phases:
        tags = ", ".join(
            f"{'old' if tag == old_tag else 'new' if tag == new_tag else tag}"
            for tag in sorted(phase.model_tags())
        )
        lines.append(
            f"{phase.name:<26} {len(phase.requests):>8} {len(phase.failures):>9} "
            f"{phase.p99_ms():>7.0f}  {tags}"
        )
    lines += [
        f"(a) drained in {stopped['drained_s']:.1f} s, "
        f"docker stop took {stopped['stopped_s']:.1f} s",
        f"(b) in flight at the kill: {len(in_flight_at_kill)}; failed: {len(kill.failures)} "
        f"({sorted({f['error'] for f in kill.failures})}); HAProxy saw it DOWN after "
        f"{detected_s:.1f} s",
        f"(c) rolling update of {REPLICAS} replicas: {update_s:.1f} s; (d) rollback: "
        f"{rollback_s:.1f} s; per replica (drain / stop / ready / total s): "
        + "; ".join(
            f"{s['drained_s']:.1f}/{s['stopped_s']:.1f}/{s['ready_s']:.1f}/{s['total_s']:.1f}"
            for s in update_steps + rollback_steps
        ),
        "docker stats in steady load: " + "; ".join(stats.splitlines()),
    ]
    announce(request.config, "\n".join(f"[replicas] {line}" for line in lines))
    (rollout.tmp_root.parent / "replicas-figures.txt").write_text("\n".join(lines) + "\n")

    # Every request is counted: the log has one line per request event of locust's (its
    # CSV, rewritten once a second, may miss the last second's), and each is in a phase.
    assert len(requests) >= int(aggregated["Request Count"]) > 0
    assert counted == len(requests)
    for name in ("steady", "a: docker stop (drained)", "c: rolling update", "d: rollback"):
        assert by_name[name].requests, name
    # No failure but in (b), and there only requests in flight at the kill.
    failures = [failure for phase in phases for failure in phase.failures]
    assert all(failure in in_flight_at_kill for failure in failures), failures[:10]
    # Each replica wrote its decisions' records on its volume, the root being read-only.
    for index in range(1, REPLICAS + 1):
        records = rollout.tmp_root / "records" / rollout.container(index)
        assert any(path.stat().st_size for path in records.rglob("*") if path.is_file()), index
    # Decisions come from the model of the image each phase ends with.
    assert by_name["steady"].model_tags() == {old_tag}
    assert by_name["c: rolling update"].model_tags() <= {old_tag, new_tag}
    assert by_name["after c"].requests and by_name["after c"].model_tags() == {new_tag}
    assert by_name["after d"].requests and by_name["after d"].model_tags() == {old_tag}
    assert [s["image"] for s in update_steps] == [new_image] * REPLICAS
    assert [s["image"] for s in rollback_steps] == [old_image] * REPLICAS
    # What an operator reads before the next rollback: the image each replica replaced.
    assert status.count(f"runs {old_image} (replaced {new_image})") == REPLICAS, status
