"""Soak test: locust for 10 minutes with 50 users, watching the server's memory.

Not part of CI. Passes (exit 0) when locust saw no failure and the server's
resident memory grew less than 10% between the end of the warm-up and the end
of the run. Traffic stays on loopback unless ``--host`` says otherwise.

    python benchmarks/soak.py                       # starts `bentoml serve` itself
    python benchmarks/soak.py --run-time 1m         # a short rehearsal
    python benchmarks/soak.py --host http://127.0.0.1:3000 --pid 12345   # a running server

Memory is the RSS of the server's process tree (the ``bentoml serve`` arbiter
and every worker), sampled every few seconds. The warm-up (60 s by default) is
excluded from the growth: BentoML keeps each request's timeout timer for the
whole ``traffic.timeout`` (30 s), so RSS first climbs to the request rate times
30 s worth of timers and only then shows whether anything leaks.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))

from tests.support.servers import Server, bentoml_serve, free_port, launch, wait_ready  # noqa: E402

READY_TIMEOUT_S = 120


@dataclass
class Sample:
    """The server's resident memory at one moment of the run."""

    elapsed_s: float
    rss_bytes: int
    processes: int


@dataclass
class MemoryWatch:
    """Samples the RSS of a process and its descendants in a background thread."""

    pid: int
    every_s: float
    samples: list[Sample] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        """Begin sampling."""
        self._origin = time.monotonic()
        threading.Thread(target=self._run, daemon=True).start()

    def stop(self) -> None:
        """Take a last sample and stop."""
        self._sample()
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            self._sample()

    def _sample(self) -> None:
        root = psutil.Process(self.pid)
        total = 0
        processes = [root, *root.children(recursive=True)]
        for process in processes:
            # A worker that exits meanwhile holds no memory.
            with contextlib.suppress(psutil.NoSuchProcess):
                total += process.memory_info().rss
        self.samples.append(Sample(time.monotonic() - self._origin, total, len(processes)))


def start_server(topology: str, log_path: Path) -> Server:
    """``bentoml serve`` from the repository root, in its own process group, on loopback."""
    port = free_port()
    # Decision records are written as in production, next to the soak's reports.
    monitoring = log_path.with_name(log_path.name.replace("_server.log", "_monitoring"))
    monitoring_dir = os.environ.get("CREDIT_RISK_MONITORING_DIR", str(monitoring))
    env = {
        **os.environ,
        "CREDIT_RISK_TOPOLOGY": topology,
        "CREDIT_RISK_MONITORING_DIR": monitoring_dir,
    }
    try:
        return launch(
            bentoml_serve(".", port),
            port=port,
            log_path=log_path,
            env=env,
            topology=topology,
            monitoring_dir=Path(monitoring_dir),
            timeout=READY_TIMEOUT_S,
        )
    except (RuntimeError, TimeoutError) as error:
        sys.exit(str(error))


def run_locust(url: str, args: argparse.Namespace, csv_prefix: Path) -> int:
    """Run locust headless against ``url``; returns its exit code."""
    command = [
        str(BIN / "locust"),
        "-f",
        str(ROOT / "locustfile.py"),
        "--headless",
        "-u",
        str(args.users),
        "-r",
        str(args.spawn_rate),
        "--run-time",
        args.run_time,
        "--host",
        url,
        "--csv",
        str(csv_prefix),
        "--json-file",
        str(csv_prefix),
        "--only-summary",
        "--stop-timeout",
        "30",
    ]
    print("$", " ".join(command), flush=True)
    return subprocess.run(command, cwd=ROOT, check=False).returncode


@dataclass
class LoadResult:
    """What locust measured over the whole run, all endpoints together."""

    requests: int
    failures: int
    p50_ms: float
    p99_ms: float


def load_result(prefix: Path) -> LoadResult:
    """Exact totals and percentiles from locust's final JSON (its CSV misses the last seconds)."""
    entries = json.loads(Path(f"{prefix}.json").read_text())
    times: Counter[float] = Counter()
    for entry in entries:
        times.update({float(ms): count for ms, count in entry["response_times"].items()})
    ordered = sorted(times.items())

    def percentile(share: float) -> float:
        rank, seen = share * times.total(), 0
        for ms, count in ordered:
            seen += count
            if seen >= rank:
                return ms
        return ordered[-1][0] if ordered else float("nan")

    return LoadResult(
        requests=sum(entry["num_requests"] for entry in entries),
        failures=sum(entry["num_failures"] for entry in entries),
        p50_ms=percentile(0.50),
        p99_ms=percentile(0.99),
    )


def write_samples(samples: list[Sample], path: Path) -> None:
    """The RSS samples, one per line, for plotting."""
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["elapsed_s", "rss_mib", "processes"])
        for sample in samples:
            writer.writerow(
                [f"{sample.elapsed_s:.1f}", f"{sample.rss_bytes / 2**20:.1f}", sample.processes]
            )


def parse_args() -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", help="a running server's URL (default: start one)")
    parser.add_argument("--pid", type=int, help="with --host: the server's PID, to watch RSS")
    parser.add_argument("--topology", choices=["embedded", "remote"], default="embedded")
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--spawn-rate", type=float, default=10)
    parser.add_argument("--run-time", default="10m", help="locust's --run-time, e.g. 10m, 60s")
    parser.add_argument("--warmup", type=float, default=60, help="seconds excluded from growth")
    parser.add_argument("--sample-every", type=float, default=5, help="seconds between samples")
    parser.add_argument("--max-growth", type=float, default=0.10, help="allowed RSS growth")
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "soak", help="CSV prefix")
    return parser.parse_args()


def main() -> int:
    """Run the soak; print the figures; exit non-zero when it fails."""
    args = parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    server: Server | None = None
    if args.host:
        url, pid = args.host.rstrip("/"), args.pid
        wait_ready(url, timeout=READY_TIMEOUT_S)
    else:
        server = start_server(args.topology, Path(f"{args.out}_server.log"))
        url, pid = server.url, server.process.pid
        print(f"serving {args.topology} at {url} (pid {pid})", flush=True)

    watch = MemoryWatch(pid, args.sample_every) if pid else None
    try:
        if watch:
            watch.start()
        started = time.monotonic()
        locust_code = run_locust(url, args, args.out)
        duration = time.monotonic() - started
        if watch:
            watch.stop()
    finally:
        exit_code = server.stop() if server else None

    load = load_result(args.out)
    print(
        f"\nlocust: {load.requests} requests in {duration:.0f} s "
        f"({load.requests / duration:.0f} req/s), {load.failures} failures, "
        f"p50 {load.p50_ms:.0f} ms, p99 {load.p99_ms:.0f} ms"
    )
    passed = load.failures == 0 and load.requests > 0
    if watch:
        write_samples(watch.samples, Path(f"{args.out}_rss.csv"))
        first = watch.samples[0]
        warm = next((s for s in watch.samples if s.elapsed_s >= args.warmup), watch.samples[-1])
        last, peak = watch.samples[-1], max(watch.samples, key=lambda s: s.rss_bytes)
        growth = (last.rss_bytes - warm.rss_bytes) / warm.rss_bytes
        mib = 2**20
        print(
            f"server RSS: {first.rss_bytes / mib:.0f} MiB idle, {warm.rss_bytes / mib:.0f} MiB "
            f"after {warm.elapsed_s:.0f} s warm-up, {last.rss_bytes / mib:.0f} MiB at the end "
            f"(growth {growth:+.1%}), peak {peak.rss_bytes / mib:.0f} MiB; "
            f"samples in {args.out}_rss.csv"
        )
        passed = passed and growth < args.max_growth
    else:
        print("server RSS: not measured (give --pid with --host)")
    if exit_code is not None:
        print(f"server exit code after SIGTERM: {exit_code}")
        passed = passed and exit_code == 0
    verdict = "PASSED" if passed else "FAILED"
    print(f"locust exit code {locust_code} (its own SLO check); soak {verdict}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
