"""Three replicas behind HAProxy, under steady load: stop, crash, roll forward, roll back.

Everything a cluster does to the container, done with Docker on loopback. The replicas
run as the production overlay's Deployment says (user, read-only root, writable
volumes, settings from the ConfigMap, API key, memory limit; one API worker each here),
behind deploy/docker/haproxy.cfg, moved by deploy/docker/rolling_update.py, the
operators' script. Locust (locustfile.py, paced, one JSON line per request) drives the
frontend throughout, and every request is counted and put in the phase it started in:

* (a) graceful stop: drained through HAProxy's runtime API, then ``docker stop``;
* (b) crash: ``docker kill``; only requests in flight at the kill may fail;
* (c) promotion: rolling update to the promoted release's image (a retrained model,
  promoted by ``python -m credit_risk.governance promote``, the old champion shadowing
  it), one replica at a time;
* (d) rollback to the first image, the same way.

Zero failures in (a), (c) and (d); after (c) every decision carries the new model's
tag, after (d) the old one's, read from the responses; and each replica's records switch
model at one point for the promotion and at one for the rollback.

A second test runs the hardened front alone: slow request heads cut at HAProxy's
``timeout http-request``, unknown paths 404 at the proxy, /metrics for the monitoring
network only, and the polite clients' p99 measured before and during a slow-connection
attack (docs/reliability.md, "Hardening: the fronts").
"""

from __future__ import annotations

import asyncio
import csv
import http.client
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bentoml
import pytest

from credit_risk.records import read_records
from credit_risk.training.data import Dataset
from credit_risk.training.recipes import DEFAULT_RECIPE
from deploy.docker.rolling_update import Balancer
from deploy.kubernetes.check_manifests import render
from tests.support.ci import announce, in_ci
from tests.support.containers import ContainerImage, build_bento, docker, run_bentoml
from tests.support.models import store_version
from tests.support.servers import ROOT, free_port
from tests.support.training import run_governance

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
    trained_model: str,
    container_image: ContainerImage,
) -> Iterator[ContainerImage]:
    """The release after a promotion: a retrained version of the recipe, named challenger
    of the session's champion, let through by the gate, promoted by the recorded act, and
    built as the bento whose aliases are swapped (its champion the retrained model, its
    challenger the old champion). Its own release file, so the session's stays as the
    other tests expect; the model is deleted at the end."""
    retrained = store_version(trained_model, training_data.frame, DEFAULT_RECIPE)
    work = tmp_root / "promotion-replicas"
    env = {"CREDIT_RISK_RELEASE_FILE": str(work / "release.json")}
    started = time.monotonic()
    run_governance("name", "--champion", trained_model, "--challenger", retrained, env=env)
    gate = work / "gate"
    run_governance(
        "gate", "--data-dir", str(training_data.path.parent), "--resamples", "300",
        "-o", str(gate), env=env,
    )  # fmt: skip
    run_governance(
        "promote", "--operator", "replica test", "--reason", "retrained, as good",
        "--evidence", str(gate / "gate.json"), "--monitoring-dir", str(work), env=env,
    )  # fmt: skip
    bento = build_bento("deploy/container/bentofile.offline.yaml", env=env)
    run_bentoml("containerize", bento, env={"DOCKER_BUILDKIT": "0"}, timeout=1800)
    image = ContainerImage(
        name=bento,
        bento_tag=bento,
        build_seconds=time.monotonic() - started,
        size_bytes=int(docker("image", "inspect", "-f", "{{.Size}}", bento)),
    )
    announce(request.config, f"promoted release {bento} built in {image.build_seconds:.0f} s")
    yield image
    docker("image", "rm", bento, check=False)
    bentoml.bentos.delete(bento)
    bentoml.models.delete(retrained)


def _aliases(bento_tag: str) -> dict[str, str]:
    """The bento's model aliases: which model decides, which shadows."""
    info = json.loads(run_bentoml("get", bento_tag, "-o", "json").stdout)
    return {model["alias"]: str(model["tag"]) for model in info["models"] if model.get("alias")}


def _switches(records_dir: Path) -> list[str]:
    """The model tags of a replica's records in time order, each run of one tag once."""
    records = sorted(read_records(records_dir).records, key=lambda record: record["time"])
    return [tag for tag, _ in itertools.groupby(record["model_tag"] for record in records)]


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


def _start_replicas(rollout: Rollout, image: str) -> list[int]:
    """The replicas, as the production Deployment runs its pods; their published ports."""
    resources = render(PRODUCTION)
    ports = [free_port() for _ in range(REPLICAS)]
    for index, port in enumerate(ports, start=1):
        name = rollout.container(index)
        records = rollout.tmp_root / "records" / name
        records.mkdir(parents=True)
        records.chmod(0o777)
        options = pod_as_docker_options(resources, name, port, records)
        subprocess.run(
            [sys.executable, str(ROLLING_UPDATE), "start", name, image, "--", *options],
            check=True,
            capture_output=True,
            timeout=120,
        )
    return ports


def _start_proxy(
    rollout: Rollout, ports: list[int], socket_path: Path | None = None, **env: str
) -> str:
    """HAProxy with deploy/docker/haproxy.cfg in front of the replicas; its frontend address.

    The first proxy of a run owns the runtime socket the Balancer drives and waits for
    every replica to be up; another (``socket_path``) only for its socket to appear.
    """
    socket = socket_path or rollout.socket
    frontend = f"127.0.0.1:{free_port()}"
    lb_env = {
        "CREDIT_RISK_LB_BIND": frontend,
        "CREDIT_RISK_LB_SOCKET": str(socket),
        **{f"CREDIT_RISK_REPLICA_{i}": f"127.0.0.1:{p}" for i, p in enumerate(ports, start=1)},
        **env,
    }
    log = rollout.tmp_root / f"haproxy-{socket.stem}.log"
    rollout.spawn([rollout.haproxy_binary, "-db", "-f", str(HAPROXY_CONFIG)], log, lb_env)
    deadline = time.monotonic() + 30
    while not socket.exists():
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)
    if socket_path is None:
        _wait_all_up(rollout.balancer, timeout=120)
    else:
        _wait_all_up(Balancer(str(socket)), timeout=30)
    return frontend


def _start_locust(
    rollout: Rollout, frontend: str, request_log: Path, stats_prefix: Path
) -> subprocess.Popen[bytes]:
    """Locust's paced users on the frontend, one JSON line per request in ``request_log``."""
    return rollout.spawn(
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


def test_replicas_survive_stop_crash_rolling_update_and_rollback(
    request: pytest.FixtureRequest,
    rollout: Rollout,
    container_image: ContainerImage,
    next_image: ContainerImage,
) -> None:
    old_image, new_image = container_image.name, next_image.name
    old_tag = _aliases(old_image)["champion"]
    # The promoted release: the old champion shadows the new one.
    new_tag = _aliases(new_image)["champion"]
    assert _aliases(new_image) == {"champion": new_tag, "challenger": old_tag}
    assert old_tag != new_tag

    ports = _start_replicas(rollout, old_image)
    frontend = _start_proxy(rollout, ports)
    request_log = rollout.tmp_root / "requests.jsonl"
    stats_prefix = rollout.tmp_root / "locust"
    rollout.begin("warm-up")
    locust = _start_locust(rollout, frontend, request_log, stats_prefix)
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
    # Each replica wrote its decisions' records on its volume, the root being read-only,
    # and they switch model at one point when promoted and at one when rolled back.
    for index in range(1, REPLICAS + 1):
        records = rollout.tmp_root / "records" / rollout.container(index)
        assert any(path.stat().st_size for path in records.rglob("*") if path.is_file()), index
        assert _switches(records) == [old_tag, new_tag, old_tag], index
    # Decisions come from the model of the image each phase ends with.
    assert by_name["steady"].model_tags() == {old_tag}
    assert by_name["c: rolling update"].model_tags() <= {old_tag, new_tag}
    assert by_name["after c"].requests and by_name["after c"].model_tags() == {new_tag}
    assert by_name["after d"].requests and by_name["after d"].model_tags() == {old_tag}
    assert [s["image"] for s in update_steps] == [new_image] * REPLICAS
    assert [s["image"] for s in rollback_steps] == [old_image] * REPLICAS
    # What an operator reads before the next rollback: the image each replica replaced.
    assert status.count(f"runs {old_image} (replaced {new_image})") == REPLICAS, status


# --- The hardened front: bounded heads, the service's paths only, under a slow attack ---

HEAD_TIMEOUT_S = 5.0
"""``timeout http-request`` of deploy/docker/haproxy.cfg: a whole request head within it."""
SLOW_CONNECTIONS = 150
"""The slow-connection attack's connections open at once, each one reopened when cut."""
SLOW_LINE_EVERY_S = 2.0
"""A header line this often keeps a connection busy for HAProxy's inactivity timeouts."""
ATTACK_S = 12.0
"""How long the attack lasts (over twice the head timeout); the polite phase before it
lasts ``POLITE_S`` (300 requests at the locust rate: enough for a p99 to compare)."""
POLITE_S = 10.0
MAX_SLOW_OPENS = SLOW_CONNECTIONS * 10
"""The attack never opens more connections than this in all, whatever the proxy does."""
MONITORING_ELSEWHERE = "192.0.2.0/24"
"""A monitoring network the tests never come from (TEST-NET-1, documentation only): it is
an ACL value, nothing connects to or from it."""

ALLOWED = {
    # path: the status a replica answers without an API key
    "/readyz": 200,
    "/livez": 200,
    "/healthz": 200,
    "/": 200,
    "/docs.json": 200,
    "/schema.json": 200,
    "/static_content/swagger-ui.css": 200,
    "/app/": 200,
    "/app/app.js": 200,
    "/app/app.css": 200,
    "/model": 401,
    "/model/card": 401,
}
UNKNOWN = ("/nope", "/admin", "/classify/extra", "/%6Detrics", "/readyz/../metrics", "/ping")
"""Paths no client of HAProxy has any business with (SageMaker's /ping included)."""


@dataclass
class SlowAttack:
    """Slow-connection (slowloris) clients: each sends a request head one header line every
    ``line_every_s``, never finishing it, and reconnects when the proxy cuts it.

    Bounded in time (``duration_s``) and count (``max_opens`` connections in all); every
    socket is on 127.0.0.1.
    """

    host: str
    port: int
    connections: int = SLOW_CONNECTIONS
    line_every_s: float = SLOW_LINE_EVERY_S
    duration_s: float = ATTACK_S
    max_opens: int = MAX_SLOW_OPENS
    opened: int = 0
    cut_after_s: list[float] = field(default_factory=list)
    """How long each connection the proxy closed had been open."""
    held_s: list[float] = field(default_factory=list)
    """How long each connection still open when the attack stopped had been open."""
    answers: dict[str, int] = field(default_factory=dict)
    """The proxy's status lines to the slow clients, counted."""

    async def _client(self, index: int, end: float) -> None:
        # Staggered starts: the lines arrive spread over the period, not in waves.
        await asyncio.sleep(self.line_every_s * index / self.connections)
        while time.monotonic() < end and self.opened < self.max_opens:
            self.opened += 1
            opened = time.monotonic()
            try:
                reader, writer = await asyncio.open_connection(self.host, self.port)
            except OSError:
                await asyncio.sleep(self.line_every_s)
                continue
            try:
                writer.write(b"POST /classify HTTP/1.1\r\nHost: credit-risk\r\n")
                await writer.drain()
                while True:
                    if time.monotonic() >= end:
                        self.held_s.append(time.monotonic() - opened)
                        return
                    try:
                        data = await asyncio.wait_for(reader.read(4096), self.line_every_s)
                    except TimeoutError:
                        writer.write(f"X-Slow-{index}: still typing\r\n".encode())
                        await writer.drain()
                        continue
                    if data.startswith(b"HTTP/"):
                        status = data.split(b"\r\n", 1)[0].decode(errors="replace")
                        self.answers[status] = self.answers.get(status, 0) + 1
                    if not data:
                        self.cut_after_s.append(time.monotonic() - opened)
                        break
            except OSError:
                self.cut_after_s.append(time.monotonic() - opened)
            finally:
                writer.close()

    async def _run(self) -> None:
        end = time.monotonic() + self.duration_s
        await asyncio.gather(*(self._client(i, end) for i in range(self.connections)))

    def run(self) -> None:
        """The whole attack, in the calling thread's own event loop."""
        asyncio.run(self._run())

    def summary(self) -> str:
        """One line of figures."""
        cut = sorted(self.cut_after_s)
        median = f"{cut[len(cut) // 2]:.1f}" if cut else "-"
        longest = max([*self.cut_after_s, *self.held_s], default=0.0)
        return (
            f"{self.connections} slow connections, a header line every "
            f"{self.line_every_s:.0f} s for {self.duration_s:.0f} s: {self.opened} opened, "
            f"{len(cut)} cut by the proxy (median after {median} s), {len(self.held_s)} still "
            f"open at the end, longest open {longest:.1f} s; answers {self.answers}"
        )


def _get(frontend: str, path: str) -> tuple[int, str | None]:
    """GET ``path`` through the proxy: the status, and the replica that answered (None:
    the proxy answered itself)."""
    host, _, port = frontend.rpartition(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        return response.status, response.getheader("X-Credit-Risk-Replica")
    finally:
        connection.close()


def _slow_head_cut_after(frontend: str, limit_s: float = 3 * HEAD_TIMEOUT_S) -> float:
    """Send a request head one line a second; seconds until the proxy cuts it (or
    ``limit_s``, when it never does)."""
    host, _, port = frontend.rpartition(":")
    with socket.create_connection((host, int(port)), timeout=1) as slow:
        started = time.monotonic()
        slow.sendall(b"GET /readyz HTTP/1.1\r\nHost: credit-risk\r\n")
        while time.monotonic() - started < limit_s:
            try:
                if not slow.recv(4096):
                    break
            except TimeoutError:
                slow.sendall(b"X-Slow: still typing\r\n")
            except OSError:
                break
        return time.monotonic() - started


def _phases_of(requests: list[dict[str, Any]], phases: list[Phase]) -> None:
    """Put each request in the phase it started in."""
    for entry in requests:
        for phase in phases:
            if phase.start <= entry["start"] < (phase.end or float("inf")):
                phase.requests.append(entry)


def test_haproxy_bounds_heads_and_serves_only_the_service_paths(
    request: pytest.FixtureRequest, rollout: Rollout, container_image: ContainerImage
) -> None:
    """Slow heads cut at ``timeout http-request``, unknown paths 404 at the proxy,
    /metrics for the monitoring network only, and the polite clients' p99 unchanged
    while a slow-connection attack runs (measured; docs/reliability.md)."""
    ports = _start_replicas(rollout, container_image.name)
    frontend = _start_proxy(rollout, ports, CREDIT_RISK_LB_MONITORING_NET=MONITORING_ELSEWHERE)
    allowed = {path: _get(frontend, path) for path in ALLOWED}
    unknown = {path: _get(frontend, path) for path in UNKNOWN}
    metrics_elsewhere = _get(frontend, "/metrics")
    # A second proxy whose monitoring network is the loopback: /metrics goes through.
    monitoring = _start_proxy(
        rollout,
        ports,
        socket_path=rollout.tmp_root / "monitoring.sock",
        CREDIT_RISK_LB_MONITORING_NET="10.0.0.0/8 127.0.0.1/32",
    )
    metrics_monitoring = _get(monitoring, "/metrics")
    slow_head_s = _slow_head_cut_after(frontend)

    request_log = rollout.tmp_root / "requests.jsonl"
    rollout.begin("warm-up")
    locust = _start_locust(rollout, frontend, request_log, rollout.tmp_root / "locust")
    _wait_requests(request_log, USERS * 3)
    polite = rollout.begin("polite, no attack")
    time.sleep(POLITE_S)
    attacked = rollout.begin("slow-connection attack")
    host, _, port = frontend.rpartition(":")
    attack = SlowAttack(host, int(port))
    attacker = threading.Thread(target=attack.run, name="slow-attack", daemon=True)
    attacker.start()
    attacker.join(timeout=ATTACK_S + 30)
    assert not attacker.is_alive(), "the attack outlived its bound"
    rollout.begin("after the attack")
    time.sleep(2)  # the attack phase's last requests finish
    locust.send_signal(signal.SIGTERM)
    locust.wait(timeout=60)
    _phases_of([json.loads(line) for line in request_log.read_text().splitlines()], rollout.phases)

    lines = [
        "allowed paths (status, replica): "
        + ", ".join(
            f"{path} {status} {replica or 'proxy'}" for path, (status, replica) in allowed.items()
        ),
        "unknown paths: "
        + ", ".join(
            f"{path} {status} {replica or 'proxy'}" for path, (status, replica) in unknown.items()
        ),
        f"/metrics from outside the monitoring network: {metrics_elsewhere}; from it: "
        f"{metrics_monitoring}",
        f"a slow head (one line a second) cut after {slow_head_s:.1f} s",
        attack.summary(),
        "phase                      requests  failures  p99 ms",
        *(
            f"{phase.name:<26} {len(phase.requests):>8} {len(phase.failures):>9} "
            f"{phase.p99_ms():>7.0f}"
            for phase in (polite, attacked)
        ),
    ]
    announce(request.config, "\n".join(f"[fronts] {line}" for line in lines))
    (rollout.tmp_root.parent / "fronts-figures.txt").write_text("\n".join(lines) + "\n")

    # Every service path goes through to a replica; nothing else does.
    assert all(
        status == ALLOWED[path] and replica for path, (status, replica) in allowed.items()
    ), allowed
    assert all(status == 404 and replica is None for status, replica in unknown.values()), unknown
    assert metrics_elsewhere == (403, None)
    assert metrics_monitoring[0] == 200 and metrics_monitoring[1]
    # Slow heads are cut at the proxy's timeout, never held for as long as they trickle.
    assert HEAD_TIMEOUT_S - 0.5 <= slow_head_s <= HEAD_TIMEOUT_S + 2, slow_head_s
    assert attack.cut_after_s, attack.summary()
    assert max([*attack.cut_after_s, *attack.held_s]) <= HEAD_TIMEOUT_S + 2, attack.summary()
    assert attack.answers.get("HTTP/1.1 408 Request Time-out", 0) > 0, attack.summary()
    # The polite clients: no failure, and their p99 within noise of the quiet phase's.
    assert polite.requests and attacked.requests
    assert not polite.failures and not attacked.failures, attacked.failures[:5]
    assert attacked.p99_ms() <= 2 * polite.p99_ms() + 50, (polite.p99_ms(), attacked.p99_ms())
