"""Whether a few connections reach every API worker, over repeated server starts.

Each start: ``bentoml serve`` (embedded, 2 API workers by default), a warm-up, then one
``wrk`` run per number of connections on ``/classify_batch`` (requests of 1,000
applications). Each API worker's CPU seconds during the run tell how the connections
were placed: a worker that got none stays near zero. Per run it prints applications/s,
each worker's share of the CPU, and whether both workers worked (the less busy one
had at least ``--busy-share`` of the CPU); the summary counts such runs.

    python benchmarks/worker_balance.py                          # 10 starts, 2 and 4 connections
    python benchmarks/worker_balance.py --starts 5 --env CREDIT_RISK_ACCEPT_BALANCE_MS=0

Needs ``wrk`` (Debian package), pyarrow (the batch extra) and a trained model in the
store (``BENTOML_HOME``).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.batch_ceiling import batch_script  # noqa: E402
from benchmarks.bench import wrk  # noqa: E402
from tests.support.servers import bentoml_serve, free_port, launch  # noqa: E402
from tests.support.workers import api_workers  # noqa: E402


def cpu_seconds(process: psutil.Process) -> float:
    """User and system CPU seconds of one process (0 once it is gone)."""
    try:
        times = process.cpu_times()
    except psutil.NoSuchProcess:
        return 0.0
    return times.user + times.system


def one_start(
    script: Path, work: Path, connections: list[int], seconds: int, env: dict[str, str]
) -> list[tuple[int, float, list[float]]]:
    """One server start: per number of connections, applications/s and each worker's CPU share."""
    port = free_port()
    server = launch(
        bentoml_serve(".", port),
        port=port,
        log_path=work / "serve.log",
        env={
            **os.environ,
            "CREDIT_RISK_TOPOLOGY": "embedded",
            "CREDIT_RISK_MONITORING_DIR": str(work / "records"),
            **env,
        },
        topology="embedded",
    )
    results = []
    try:
        url = f"{server.url}/classify_batch"
        wrk(url, script, 2, 1)  # warm-up: the first requests load lazily
        time.sleep(0.5)  # its connections closed before the measured ones open
        workers = api_workers(server.process.pid)
        for count in connections:
            before = [cpu_seconds(worker) for worker in workers]
            rps, _p50, _p99, errors, _requests = wrk(url, script, count, seconds)
            used = [
                cpu_seconds(worker) - start for worker, start in zip(workers, before, strict=True)
            ]
            total = sum(used) or 1.0
            if errors:
                print(f"  {count} connections: {errors} errors", flush=True)
            results.append((count, rps * 1000, [share / total for share in used]))
            time.sleep(0.5)
    finally:
        server.stop()
    return results


def main() -> None:
    """Repeat server starts and report how often both workers worked."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--starts", type=int, default=10)
    parser.add_argument("--connections", type=int, nargs="+", default=[2, 4])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--busy-share", type=float, default=0.25)
    parser.add_argument(
        "--portfolio", type=Path, default=None, help="a Parquet portfolio (default: generated)"
    )
    parser.add_argument("--script", type=Path, default=None, help="a wrk script made before")
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for the server")
    args = parser.parse_args()
    env = dict(item.split("=", 1) for item in args.env)
    with tempfile.TemporaryDirectory(prefix="worker-balance-") as tmp:
        work = Path(tmp)
        script = args.script
        if script is None:
            if args.portfolio is None:
                parser.error("--portfolio or --script is needed")
            script = batch_script(args.portfolio, work / "batch.lua")
        both: dict[int, int] = dict.fromkeys(args.connections, 0)
        rates: dict[int, list[float]] = {count: [] for count in args.connections}
        for start in range(args.starts):
            for count, rate, shares in one_start(script, work, args.connections, args.seconds, env):
                worked = min(shares) >= args.busy_share
                both[count] += worked
                rates[count].append(rate)
                print(
                    f"start {start + 1} c{count}: {rate:,.0f} applications/s, worker CPU "
                    + " / ".join(f"{share:.0%}" for share in shares)
                    + (" both" if worked else " ONE"),
                    flush=True,
                )
        print(f"load average {os.getloadavg()}")
        for count in args.connections:
            ordered = sorted(rates[count])
            print(
                f"c{count}: both workers in {both[count]}/{args.starts} starts; applications/s "
                f"median {ordered[len(ordered) // 2]:,.0f}, min {ordered[0]:,.0f}, "
                f"max {ordered[-1]:,.0f}"
            )


if __name__ == "__main__":
    main()
