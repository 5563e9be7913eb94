"""Lambda figures of the image, measured locally: cold start, warm latency, lifespan modes.

``cold`` runs the image as tests/deploy/test_aws.py does (awslambdaric as the command,
read-only root, tmpfs /tmp, user 993, memory limit, our Runtime API on loopback)
``--starts`` times, timing ``docker run`` to the first answer of the course
application; after the last start it times ``--warm`` further invocations::

    python benchmarks/aws_lambda.py cold IMAGE --starts 5 --warm 500

``lifespan`` shows, in process, why the handler starts the ASGI app once rather
than using Mangum's ``lifespan="on"`` (startup and shutdown around every event)::

    python benchmarks/aws_lambda.py lifespan on      # Mangum's own
    python benchmarks/aws_lambda.py lifespan once    # credit_risk.serving.aws.lambda_handler

Needs Docker and the image (``cold``), or a trained model in the store (``lifespan``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from credit_risk.schema import COURSE_EXAMPLE  # noqa: E402
from tests.support.lambda_runtime import LambdaRuntimeAPI, http_api_event  # noqa: E402

MEMORY_MB = 1024


def course_event() -> dict[str, Any]:
    """The course application as an HTTP API event."""
    body = json.dumps(COURSE_EXAMPLE)
    return http_api_event("POST", "/classify", body, {"content-type": "application/json"})


def cold_start(image: str, runtime: LambdaRuntimeAPI) -> tuple[float, str]:
    """Seconds from ``docker run`` to the first answer; returns them and the container id."""
    first = runtime.submit(course_event())
    started = time.monotonic()
    container = subprocess.run(
        ["docker", "run", "--detach", "--read-only", "--tmpfs", "/tmp:rw,size=512m,mode=1777",
         "--user", "993:993", "--memory", f"{MEMORY_MB}m", "--memory-swap", f"{MEMORY_MB}m",
         "--network", "host", "--workdir", "/home/bentoml/bento/src",
         "-e", f"AWS_LAMBDA_RUNTIME_API={runtime.address}",
         "-e", "AWS_LAMBDA_FUNCTION_NAME=credit-risk",
         image, "python", "-m", "awslambdaric", "credit_risk.serving.aws.lambda_handler.handler"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    kind, _ = first.answer.result(timeout=120)
    assert kind == "response"
    return first.answered_at - started, container


def run_cold(image: str, starts: int, warm: int) -> None:
    """Print cold starts, then warm p50/p99 of the last container."""
    seconds: list[float] = []
    for index in range(starts):
        # A Runtime API per start: a killed container's pending poll would take
        # the next container's first event.
        runtime = LambdaRuntimeAPI().start()
        cold, container = cold_start(image, runtime)
        seconds.append(cold)
        try:
            if index == starts - 1:
                print(f"cold start (docker run to first answer), {starts} starts: "
                      f"median {statistics.median(seconds):.2f} s, min {min(seconds):.2f} s, "
                      f"max {max(seconds):.2f} s")  # fmt: skip
                latencies = []
                for _ in range(warm):
                    started = time.perf_counter()
                    runtime.invoke(course_event())
                    latencies.append(time.perf_counter() - started)
                centiles = statistics.quantiles(latencies, n=100)
                print(f"warm /classify, {warm} invocations: p50 {centiles[49] * 1000:.1f} ms, "
                      f"p99 {centiles[98] * 1000:.1f} ms")  # fmt: skip
        finally:
            subprocess.run(["docker", "rm", "--force", container], capture_output=True, check=False)
            runtime.stop()


def run_lifespan(mode: str, invocations: int = 10) -> None:
    """Invoke in process with Mangum's per-event lifespan or ours; print statuses and time."""
    if mode == "on":
        import bentoml
        from mangum import Mangum

        app = bentoml.load("service:CreditRiskClassifier").to_asgi()
        handler: Any = Mangum(app, lifespan="on")
    else:
        from credit_risk.serving.aws.lambda_handler import handler
    seconds, statuses = [], []
    for _ in range(invocations):
        started = time.perf_counter()
        statuses.append(handler(course_event(), None)["statusCode"])
        seconds.append(time.perf_counter() - started)
    print(f"lifespan {mode}: median {statistics.median(seconds) * 1000:.1f} ms per "
          f"invocation, statuses {statuses}")  # fmt: skip


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    cold = commands.add_parser("cold")
    cold.add_argument("image")
    cold.add_argument("--starts", type=int, default=5)
    cold.add_argument("--warm", type=int, default=500)
    lifespan = commands.add_parser("lifespan")
    lifespan.add_argument("mode", choices=["on", "once"])
    args = parser.parse_args()
    if args.command == "cold":
        run_cold(args.image, args.starts, args.warm)
    else:
        run_lifespan(args.mode)


if __name__ == "__main__":
    main()
