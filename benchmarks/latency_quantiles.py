"""The service's own latency histogram against wrk's latencies, on the same run.

Serves the service (``bentoml serve``, embedded topology), drives ``/classify`` with
``wrk --latency`` at a fixed concurrency, reads BentoML's
``bentoml_service_request_duration_seconds`` for ``/classify`` from ``/metrics`` before
and after, and computes p50 and p99 from the difference as PromQL's
``histogram_quantile`` does (linear interpolation within a bucket). Prints both and
their ratio (server / wrk), and, as a third view, the exact quantiles of the
``latency_ms`` that every decision record of the run carries (measured inside the
endpoint: from the parsed body to the decision, so a little less than the histogram)::

    python benchmarks/latency_quantiles.py                    # 32 connections, 20 s
    python benchmarks/latency_quantiles.py --connections 8 --seconds 10

wrk measures from the client: the server's time plus the loopback, the kernel's
accept queue and uvicorn's parsing before BentoML's middleware starts its clock.
Needs ``wrk`` (Debian package) and a trained model in the store (``BENTOML_HOME``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench import wrk  # noqa: E402
from credit_risk.records.reader import parse_time, read_records  # noqa: E402
from credit_risk.schema import COURSE_EXAMPLE  # noqa: E402
from tests.support.histograms import delta, histogram_quantile, read_buckets  # noqa: E402
from tests.support.servers import start_server  # noqa: E402

HISTOGRAM = "bentoml_service_request_duration_seconds"
ENDPOINT = {"endpoint": "/classify", "http_response_code": "200"}


def main() -> None:
    """Serve, measure and print the comparison."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--topology", default="embedded", choices=["embedded", "remote"])
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="credit-risk-latency-"))
    script = work / "classify.lua"
    script.write_text(
        f'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        f"wrk.body = {json.dumps(json.dumps(COURSE_EXAMPLE))}\n"
    )
    extra = {"CREDIT_RISK_ACCESS_LOG": os.environ.get("CREDIT_RISK_ACCESS_LOG", "false")}
    server = start_server(work, args.topology, extra_env=extra)
    try:
        url = f"{server.url}/classify"
        wrk(url, script, args.connections, 2)  # warm-up, left out of both
        with httpx.Client(base_url=server.url, timeout=30) as client:
            before = read_buckets(client.get("/metrics").text, HISTOGRAM, ENDPOINT)
            started = dt.datetime.now(dt.UTC)
            rps, wrk_p50, wrk_p99, errors = wrk(url, script, args.connections, args.seconds)
            after = read_buckets(client.get("/metrics").text, HISTOGRAM, ENDPOINT)
    finally:
        server.stop()
    recorded = [
        record["latency_ms"]
        for record in read_records(server.monitoring_dir).records
        if record["endpoint"] == "/classify" and parse_time(record["time"]) >= started
    ]
    # None with records off (CREDIT_RISK_MONITORING=false in this environment).
    record_p50, record_p99 = np.percentile(recorded, [50, 99]).tolist() if recorded else (0, 0)
    observed = delta(after, before)
    server_p50 = histogram_quantile(0.5, observed) * 1000
    server_p99 = histogram_quantile(0.99, observed) * 1000
    print(
        f"{args.topology}, wrk -t2 -c{args.connections} -d{args.seconds}s: "
        f"{rps:.0f} req/s, {observed[float('inf')]:.0f} requests in the histogram, "
        f"{errors} errors, {len(recorded)} records"
    )
    print("| quantile | wrk ms | histogram ms | histogram / wrk | records ms |")
    print("|---|---:|---:|---:|---:|")
    for name, client_ms, server_ms, record_ms in (
        ("p50", wrk_p50, server_p50, record_p50),
        ("p99", wrk_p99, server_p99, record_p99),
    ):
        print(
            f"| {name} | {client_ms:.2f} | {server_ms:.2f} | {server_ms / client_ms:.2f} "
            f"| {record_ms:.2f} |"
        )


if __name__ == "__main__":
    main()
