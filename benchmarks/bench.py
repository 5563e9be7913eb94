"""Throughput benchmark: this service against what a user would pick instead.

Starts every variant on loopback, then drives each with ``wrk`` at fixed
concurrency, alternating variants round by round so that they share the
machine's ups and downs. Prints a Markdown table (``--json`` also writes it)::

    | variant | conns | req/s | p50 ms | p99 ms | errors | server CPU µs/req | vs fastapi... |

``req/s``, ``p50``, ``p99`` and the server's CPU time per request (its process tree's,
steadier than req/s on a busy machine) are medians over the rounds; ``errors`` sums
non-2xx answers and socket errors over the rounds; ``vs ...`` are ratios of
req/s to the two FastAPI baselines at the same concurrency (NaN when one was
not run): ``fastapi-xgboost`` computes the reasons with XGBoost's
``pred_contribs`` and runs as a user would write it (uvicorn[standard], 2
workers, no access log); ``fastapi`` uses the service's compiled explainer, at
its best (the same engine: only the serving stack differs). A second table
gives ``/classify_batch`` throughput in applications per second (requests of
1,000, at 4 and 8 connections: ``--batch-connections``), and a third the seconds
from start to ``/readyz``.

    python benchmarks/bench.py                       # everything, ~10 minutes
    python benchmarks/bench.py --variants embedded fastapi --rounds 2 --seconds 5

Needs ``wrk`` (Debian package) and a trained model in the store.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import math
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))

from credit_risk.schema import COURSE_EXAMPLE, MAX_BATCH_SIZE  # noqa: E402
from tests.support.servers import Server, free_port, launch  # noqa: E402

BASELINES = ("fastapi-xgboost", "fastapi")
"""Ratios of req/s are given to each: FastAPI with XGBoost's reasons, as a user
would write it, and FastAPI with the service's compiled explainer (same engine)."""


def _bentoml(target: str, **env: str) -> tuple[list[str], dict[str, str]]:
    return [str(BIN / "bentoml"), "serve", target, "--host", "127.0.0.1", "--port", "{port}"], env


VARIANTS: dict[str, tuple[list[str], dict[str, str]]] = {
    "embedded": _bentoml(".", CREDIT_RISK_TOPOLOGY="embedded"),
    # The decision records' cost per request: off, on (the default), on with fsync.
    # A challenger scored in the champion's shadow (--challenger; by default the champion
    # itself: a challenger of its size), against "embedded" for its cost.
    "embedded-shadow": _bentoml(
        ".", CREDIT_RISK_TOPOLOGY="embedded", CREDIT_RISK_CHALLENGER_TAG="{challenger}"
    ),
    "embedded-norecords": _bentoml(
        ".", CREDIT_RISK_TOPOLOGY="embedded", CREDIT_RISK_MONITORING="false"
    ),
    "embedded-fsync": _bentoml(
        ".", CREDIT_RISK_TOPOLOGY="embedded", CREDIT_RISK_RECORDS_FSYNC="true"
    ),
    # Without the bounded request heads and endpoint labels (their cost per request).
    "embedded-unbounded": _bentoml(
        "benchmarks.unbounded_service:CreditRiskClassifier", CREDIT_RISK_TOPOLOGY="embedded"
    ),
    # Connections placed by the kernel and uvloop, as before balanced accepting
    # (credit_risk/serving/balanced_accept.py), against "embedded" for what it changes.
    "embedded-unbalanced": _bentoml(
        ".", CREDIT_RISK_TOPOLOGY="embedded", CREDIT_RISK_ACCEPT_DEFER_MS="0"
    ),
    "remote": _bentoml(".", CREDIT_RISK_TOPOLOGY="remote"),
    "embedded-noaccesslog": _bentoml(
        ".", CREDIT_RISK_TOPOLOGY="embedded", CREDIT_RISK_ACCESS_LOG="false"
    ),
    # The course's design with XGBoost's reasons, and with the compiled explainer
    # (only the architecture differs from "remote").
    "legacy": _bentoml(
        "benchmarks.baselines.legacy_service:svc", CREDIT_RISK_BASELINE_EXPLAINER="xgboost"
    ),
    "legacy-compiled": _bentoml("benchmarks.baselines.legacy_service:svc"),
    "fastapi-xgboost": (
        # As a user would run it: uvicorn[standard] picks uvloop and httptools itself.
        [
            str(BIN / "uvicorn"),
            "benchmarks.baselines.fastapi_app:app",
            "--host",
            "127.0.0.1",
            "--port",
            "{port}",
            "--workers",
            "2",
            "--no-access-log",
        ],
        {"CREDIT_RISK_BASELINE_EXPLAINER": "xgboost"},
    ),
    "fastapi": (
        [
            str(BIN / "uvicorn"),
            "benchmarks.baselines.fastapi_app:app",
            "--host",
            "127.0.0.1",
            "--port",
            "{port}",
            "--workers",
            "2",
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--no-access-log",
        ],
        {},
    ),
}
DEFAULT_VARIANTS = ("embedded", "remote", "legacy", "fastapi-xgboost", "fastapi")
BATCH_VARIANTS = (
    "embedded",
    "embedded-shadow",
    "embedded-unbalanced",
    "remote",
    "fastapi-xgboost",
    "fastapi",
)


@dataclass
class Samples:
    """wrk results of one variant at one concurrency, over the rounds."""

    rps: list[float] = field(default_factory=list)
    p50_ms: list[float] = field(default_factory=list)
    p99_ms: list[float] = field(default_factory=list)
    cpu_us: list[float] = field(default_factory=list)
    errors: int = 0

    def add(
        self, rps: float, p50_ms: float, p99_ms: float, errors: int, cpu_us: float = math.nan
    ) -> None:
        """Record one wrk run (``cpu_us``: the server's CPU time per request)."""
        self.rps.append(rps)
        self.p50_ms.append(p50_ms)
        self.p99_ms.append(p99_ms)
        self.cpu_us.append(cpu_us)
        self.errors += errors

    def summary(self) -> dict[str, float]:
        """Medians over the rounds, and the error total."""
        return {
            "rps": statistics.median(self.rps),
            "p50_ms": statistics.median(self.p50_ms),
            "p99_ms": statistics.median(self.p99_ms),
            "cpu_us": statistics.median(self.cpu_us),
            "errors": self.errors,
            "rps_rounds": list(self.rps),
            "cpu_us_rounds": list(self.cpu_us),
        }


def tree_cpu_seconds(pid: int) -> float:
    """User and system CPU seconds of a server: its process and every descendant."""
    total = 0.0
    root = psutil.Process(pid)
    for process in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            times = process.cpu_times()
            total += times.user + times.system
    return total


READY_TIMEOUT_S = 120


@contextlib.contextmanager
def serving(names: list[str], logs: Path, challenger: str) -> Iterator[dict[str, Server]]:
    """Start the variants one after the other (so ready times are clean); stop them all.
    ``challenger`` is the tag the shadow variant scores beside the champion."""
    running: dict[str, Server] = {}
    try:
        for name in names:
            command, env = VARIANTS[name]
            port = free_port()
            running[name] = launch(
                [part.format(port=port) for part in command],
                port=port,
                log_path=logs / f"{name}.log",
                env={
                    **os.environ,
                    **{key: value.format(challenger=challenger) for key, value in env.items()},
                    "CREDIT_RISK_MONITORING_DIR": str(logs / name),
                },
                topology=name,
                monitoring_dir=logs / name,
                timeout=READY_TIMEOUT_S,
            )
        yield running
    finally:
        for server in running.values():
            server.stop()


def _lua(path: Path, body: str) -> Path:
    path.write_text(
        f'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        f"wrk.body = {json.dumps(body)}\n"
    )
    return path


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _duration_ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(value) * _UNITS[unit]


def wrk(
    url: str, script: Path, connections: int, seconds: int
) -> tuple[float, float, float, int, int]:
    """One wrk run: req/s, p50 ms, p99 ms, errors (non-2xx and socket errors), requests."""
    output = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    p50 = _duration_ms(re.search(r"^\s+50%\s+(\S+)", output, re.MULTILINE).group(1))  # type: ignore[union-attr]
    p99 = _duration_ms(re.search(r"^\s+99%\s+(\S+)", output, re.MULTILINE).group(1))  # type: ignore[union-attr]
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", output))
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    requests = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    return rps, p50, p99, errors + (int(non_2xx.group(1)) if non_2xx else 0), requests


def measure(
    args: argparse.Namespace, running: dict[str, Server], single: Path, batch: Path
) -> tuple[dict[tuple[str, int], Samples], dict[tuple[str, int], Samples]]:
    """All rounds, variants alternating: /classify at each concurrency, then batches."""
    samples = {(v, c): Samples() for v in args.variants for c in args.connections}
    batch_samples = {
        (v, c): Samples()
        for v in args.variants
        if v in BATCH_VARIANTS
        for c in args.batch_connections
    }
    for server in running.values():  # warm-up: first requests load lazily
        wrk(f"{server.url}/classify", single, 8, 2)
    for round_index in range(args.rounds):
        shift = round_index % len(args.variants)
        order = args.variants[shift:] + args.variants[:shift]
        for connections in args.connections:
            for name in order:
                # The server's CPU per request: unlike req/s, hardly moved by what else
                # runs on the machine, so variants compare even on a busy one.
                cpu_before = tree_cpu_seconds(running[name].process.pid)
                rps, p50, p99, errors, requests = wrk(
                    f"{running[name].url}/classify", single, connections, args.seconds
                )
                cpu = tree_cpu_seconds(running[name].process.pid) - cpu_before
                samples[(name, connections)].add(rps, p50, p99, errors, cpu / requests * 1e6)
        if not args.no_batch:
            for connections in args.batch_connections:
                for name in (n for n in order if (n, connections) in batch_samples):
                    rps, p50, p99, errors, _ = wrk(
                        f"{running[name].url}/classify_batch", batch, connections, args.seconds
                    )
                    batch_samples[(name, connections)].add(rps * MAX_BATCH_SIZE, p50, p99, errors)
        print(f"round {round_index + 1}/{args.rounds} done", file=sys.stderr, flush=True)
    return samples, (batch_samples if not args.no_batch else {})


def report(
    args: argparse.Namespace,
    samples: dict[tuple[str, int], Samples],
    batch_samples: dict[tuple[str, int], Samples],
    ready: dict[str, float],
) -> dict[str, object]:
    """Print the three tables; return them as data."""
    header = (
        f"{dt.date.today().isoformat()}, {platform.node()}, {os.cpu_count()} cores, "
        f"{args.rounds} rounds x {args.seconds} s, wrk -t2"
    )
    print(f"\n/classify ({header})\n")
    print(
        "| variant | conns | req/s | p50 ms | p99 ms | errors | server CPU µs/req | "
        + " | ".join(f"vs {name}" for name in BASELINES)
        + " |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|" + "---:|" * len(BASELINES))
    rows = []
    for connections in args.connections:
        base_rps = {
            name: samples[(name, connections)].summary()["rps"]
            if (name, connections) in samples
            else float("nan")
            for name in BASELINES
        }
        for name in args.variants:
            row = {
                "variant": name,
                "connections": connections,
                **samples[(name, connections)].summary(),
            }
            ratios = {f"vs {base}": row["rps"] / base_rps[base] for base in BASELINES}
            row.update(ratios)
            rows.append(row)
            print(
                f"| {name} | {connections} | {row['rps']:.0f} | {row['p50_ms']:.1f} | "
                f"{row['p99_ms']:.1f} | {row['errors']} | {row['cpu_us']:.0f} | "
                + " | ".join(
                    f"{ratio:.2f}x" if math.isfinite(ratio) else "n/a" for ratio in ratios.values()
                )
                + " |"
            )
    batch_rows = []
    if batch_samples:
        print("\n/classify_batch, requests of 1,000 applications\n")
        print("| variant | conns | applications/s | p50 ms | p99 ms | errors |")
        print("|---|---:|---:|---:|---:|---:|")
        for (name, connections), sample in sorted(
            batch_samples.items(), key=lambda item: item[0][1]
        ):
            row = {"variant": name, "connections": connections, **sample.summary()}
            batch_rows.append(row)
            print(
                f"| {name} | {connections} | {row['rps']:.0f} | {row['p50_ms']:.0f} | "
                f"{row['p99_ms']:.0f} | {row['errors']} |"
            )
    print("\nSeconds from start to /readyz\n")
    print("| variant | ready s |")
    print("|---|---:|")
    for name, seconds in ready.items():
        print(f"| {name} | {seconds:.1f} |")
    return {"header": header, "classify": rows, "batch": batch_rows, "ready_s": ready}


def _champion() -> str:
    """The champion the variants serve (the release's, as ``bentoml serve`` resolves it)."""
    from credit_risk.model.release import resolve
    from credit_risk.settings import load_settings

    settings = load_settings()
    return resolve(champion=settings.model_tag, release_file=settings.release_file).champion


def main() -> None:
    """Run the benchmark and print the tables."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--variants", nargs="+", default=list(DEFAULT_VARIANTS), choices=VARIANTS)
    parser.add_argument("--connections", nargs="+", type=int, default=[32, 64])
    # Few connections could all land on one API worker (they share one listening
    # socket, and whichever worker wakes first may accept them all): the API workers
    # now take turns (balanced_accept.py); embedded-unbalanced shows the old placement.
    parser.add_argument("--batch-connections", nargs="+", type=int, default=[4, 8])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--no-batch", action="store_true", help="skip the /classify_batch table")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--challenger",
        help="the model embedded-shadow scores in the champion's shadow (default: the champion)",
    )
    args = parser.parse_args()
    challenger = args.challenger or _champion()

    work = Path(tempfile.mkdtemp(prefix="credit-risk-bench-"))
    single = _lua(work / "classify.lua", json.dumps(COURSE_EXAMPLE))
    batch = _lua(
        work / "batch.lua", json.dumps({"applications": [COURSE_EXAMPLE] * MAX_BATCH_SIZE})
    )
    with serving(args.variants, work, challenger) as running:
        samples, batch_samples = measure(args, running, single, batch)
        ready = {name: server.ready_seconds for name, server in running.items()}
    results = report(args, samples, batch_samples, ready)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
