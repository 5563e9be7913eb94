"""Replicas of the credit-risk container behind HAProxy: start, stop, roll to another image.

    rolling_update.py start NAME IMAGE -- --publish 127.0.0.1:3001:3000 [docker run options]
    rolling_update.py status
    rolling_update.py stop replica-1=NAME                        # drain, then docker stop
    rolling_update.py replace --image IMAGE replica-1=NAME1 ...  # rolling update / rollback
    rolling_update.py replace replica-2=NAME2                    # revive, same image

``SERVER=CONTAINER`` pairs name a server of HAProxy's backend (deploy/docker/haproxy.cfg:
replica-1..3) and the container behind it. ``replace`` takes one server at a time
out of HAProxy through its runtime API (``--socket``, as Kubernetes removes a pod's
endpoint), waits until it has no request left, stops the container with ``docker
stop`` (SIGTERM: BentoML finishes what it has), starts the new one with the same
``docker run`` options and the new image, waits for its ``/readyz``, puts it back and
waits until HAProxy's own health check sees it UP; only then does the next server go.
Capacity drops by one replica at a time, never more, and no request is dropped.

``start`` keeps the ``docker run`` options in a label of the container, so that
``replace`` reruns exactly them; the image a container replaced is kept in another
label, and ``status`` shows both images: the last good one to roll back to.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Final

# Run as `python deploy/docker/rolling_update.py` from a checkout: the readiness wait is
# the one the tests and benchmarks use (tests/support/servers.py, standard library only).
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.support.servers import wait_ready

DEFAULT_SOCKET: Final = os.environ.get("CREDIT_RISK_LB_SOCKET", "/run/credit-risk-haproxy.sock")
DEFAULT_BACKEND: Final = "replicas"
OPTIONS_LABEL: Final = "credit-risk.replica.run-options"
PREVIOUS_IMAGE_LABEL: Final = "credit-risk.replica.previous-image"
STOP_GRACE_S: Final = 45
"""``docker stop --time``: as the pods' terminationGracePeriodSeconds (the request timeout,
30 s, and time to write the last records and exit; deploy/kubernetes/check_manifests.py)."""
READY_TIMEOUT_S: Final = 120
DRAIN_TIMEOUT_S: Final = 35
"""The longest a request can take: the load balancer's server timeout."""
POLL_S: Final = 0.1


class Balancer:
    """HAProxy's runtime API over its stats socket (``level admin``)."""

    def __init__(self, socket_path: str, backend: str = DEFAULT_BACKEND) -> None:
        self.socket_path = socket_path
        self.backend = backend

    def command(self, line: str) -> str:
        """Send one command; return HAProxy's answer."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.settimeout(10)
            connection.connect(self.socket_path)
            connection.sendall(line.encode() + b"\n")
            chunks = []
            while chunk := connection.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def servers(self) -> dict[str, dict[str, str]]:
        """``show stat`` of the backend's servers, by server name."""
        rows = csv.DictReader(self.command("show stat").lstrip("# ").splitlines())
        return {
            row["svname"]: row
            for row in rows
            if row["pxname"] == self.backend and row["svname"] not in {"FRONTEND", "BACKEND"}
        }

    def server(self, name: str) -> dict[str, str]:
        """One server's ``show stat`` row."""
        servers = self.servers()
        if name not in servers:
            raise KeyError(f"no server {name} in backend {self.backend}: {sorted(servers)}")
        return servers[name]

    def set_state(self, name: str, state: str) -> None:
        """``set server BACKEND/NAME state ready|drain|maint``."""
        answer = self.command(f"set server {self.backend}/{name} state {state}").strip()
        if answer:
            raise RuntimeError(f"HAProxy refused `state {state}` for {name}: {answer}")

    def wait(self, name: str, done: str, timeout: float) -> float:
        """Wait until the server is UP (``done="up"``) or has no session (``"idle"``)."""
        started = time.monotonic()
        while True:
            row = self.server(name)
            if (done == "up" and row["status"].startswith("UP")) or (
                done == "idle" and int(row["scur"] or 0) == 0
            ):
                return time.monotonic() - started
            if time.monotonic() - started > timeout:
                raise TimeoutError(f"{name} not {done} after {timeout} s: {row['status']}")
            time.sleep(POLL_S)


def docker(*args: str, timeout: float = 120) -> str:
    """Run the docker CLI; its standard output, or an error with its standard error."""
    result = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args[:2])} failed: {result.stderr.strip()}")
    return result.stdout.strip()


def start(name: str, image: str, options: list[str], previous_image: str = "") -> str:
    """``docker run --detach --name NAME OPTIONS IMAGE``, remembering the options."""
    labels = ["--label", f"{OPTIONS_LABEL}={json.dumps(options)}"]
    if previous_image:
        labels += ["--label", f"{PREVIOUS_IMAGE_LABEL}={previous_image}"]
    return docker("run", "--detach", "--name", name, *labels, *options, image)


@dataclass(frozen=True)
class Container:
    """What ``replace`` needs to know of a container it did not start this time."""

    image: str
    options: list[str]
    previous_image: str


def inspect(name: str) -> Container:
    """The image and the remembered ``docker run`` options of a replica."""
    config = json.loads(docker("inspect", "--format", "{{json .Config}}", name))
    labels = config.get("Labels") or {}
    if OPTIONS_LABEL not in labels:
        raise ValueError(f"{name} was not started by `rolling_update.py start`: no {OPTIONS_LABEL}")
    return Container(
        image=config["Image"],
        options=json.loads(labels[OPTIONS_LABEL]),
        previous_image=labels.get(PREVIOUS_IMAGE_LABEL, ""),
    )


@dataclass(frozen=True)
class Step:
    """Timings of one server's stop or replacement, in seconds."""

    server: str
    container: str
    image: str
    drained_s: float
    stopped_s: float
    ready_s: float = 0.0
    up_s: float = 0.0
    total_s: float = 0.0


def stop(balancer: Balancer, server: str, container: str, grace: int = STOP_GRACE_S) -> Step:
    """Take the server out of HAProxy, wait until it has no request, then ``docker stop``."""
    started = time.monotonic()
    image = inspect(container).image
    balancer.set_state(server, "maint")
    drained = balancer.wait(server, "idle", DRAIN_TIMEOUT_S)
    stopping = time.monotonic()
    running = docker("inspect", "--format", "{{.State.Running}}", container) == "true"
    if running:
        docker("stop", "--time", str(grace), container, timeout=grace + 30)
    return Step(
        server,
        container,
        image,
        drained_s=drained,
        stopped_s=time.monotonic() - stopping,
        total_s=time.monotonic() - started,
    )


def replace(
    balancer: Balancer, server: str, container: str, image: str | None, grace: int = STOP_GRACE_S
) -> Step:
    """Stop the server's container and start ``image`` (default: the same) in its place."""
    started = time.monotonic()
    old = inspect(container)
    new_image = image or old.image
    address = balancer.server(server)["addr"]
    stopped = stop(balancer, server, container, grace)
    docker("rm", container)
    previous = old.image if new_image != old.image else old.previous_image
    start(container, new_image, old.options, previous_image=previous)
    ready = wait_ready(f"http://{address}", timeout=READY_TIMEOUT_S)
    balancer.set_state(server, "ready")
    up = balancer.wait(server, "up", READY_TIMEOUT_S)
    return Step(
        server,
        container,
        new_image,
        drained_s=stopped.drained_s,
        stopped_s=stopped.stopped_s,
        ready_s=ready,
        up_s=up,
        total_s=time.monotonic() - started,
    )


def _pairs(values: list[str]) -> list[tuple[str, str]]:
    pairs = []
    for value in values:
        server, _, container = value.partition("=")
        pairs.append((server, container or server))
    return pairs


def _say(step: Step, as_json: bool) -> None:
    if as_json:
        print(json.dumps(asdict(step)), flush=True)
        return
    print(
        f"{step.server} ({step.container}): drained in {step.drained_s:.1f} s, stopped in "
        f"{step.stopped_s:.1f} s"
        + (
            f", {step.image} ready in {step.ready_s:.1f} s, UP in HAProxy after {step.up_s:.1f} s"
            if step.ready_s
            else ""
        )
        + f"; {step.total_s:.1f} s",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    """The command line; see the module's docstring."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--socket", default=DEFAULT_SOCKET, help="HAProxy's admin stats socket")
    parser.add_argument("--backend", default=DEFAULT_BACKEND)
    parser.add_argument("--json", action="store_true", help="one JSON line per step")
    commands = parser.add_subparsers(dest="command", required=True)
    start_command = commands.add_parser("start", help="docker run a replica, options remembered")
    start_command.add_argument("name")
    start_command.add_argument("image")
    start_command.add_argument("options", nargs=argparse.REMAINDER, help="after --")
    status_command = commands.add_parser("status", help="servers, their state and images")
    status_command.add_argument("replicas", nargs="*", metavar="SERVER=CONTAINER")
    stop_command = commands.add_parser("stop", help="drain, then docker stop")
    stop_command.add_argument("replicas", nargs="+", metavar="SERVER=CONTAINER")
    stop_command.add_argument("--grace", type=int, default=STOP_GRACE_S)
    replace_command = commands.add_parser("replace", help="one at a time, to IMAGE")
    replace_command.add_argument("replicas", nargs="+", metavar="SERVER=CONTAINER")
    replace_command.add_argument("--image", help="default: the container's own image")
    replace_command.add_argument("--grace", type=int, default=STOP_GRACE_S)
    args = parser.parse_args(argv)

    if args.command == "start":
        options = args.options[1:] if args.options[:1] == ["--"] else args.options
        print(start(args.name, args.image, options))
        return 0
    balancer = Balancer(args.socket, args.backend)
    if args.command == "status":
        containers = dict(_pairs(args.replicas))
        for name, row in balancer.servers().items():
            line = f"{name}: {row['status']}, {row['scur']} in flight, {row['addr']}"
            if name in containers:
                replica = inspect(containers[name])
                line += f"; {containers[name]} runs {replica.image}"
                line += f" (replaced {replica.previous_image})" if replica.previous_image else ""
            print(line)
        return 0
    started = time.monotonic()
    for server, container in _pairs(args.replicas):
        if args.command == "stop":
            _say(stop(balancer, server, container, args.grace), args.json)
        else:
            _say(replace(balancer, server, container, args.image, args.grace), args.json)
    if not args.json:
        print(f"{len(args.replicas)} replica(s) in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
