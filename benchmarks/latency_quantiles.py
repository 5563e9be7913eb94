"""The service's two latency histograms against wrk's latencies, on the same run.

Serves the service (``bentoml serve``, embedded topology), drives ``/classify`` with
``wrk --latency`` at a fixed concurrency, reads both request histograms for ``/classify``
from ``/metrics`` before and after, and computes p50 and p99 from each difference as
PromQL's ``histogram_quantile`` does (linear interpolation within a bucket):

* ``credit_request_duration_seconds``, at the wire: timed by the service's uvicorn
  protocol from a request's first byte parsed to its answer's last byte written;
* ``bentoml_service_request_duration_seconds``, in the app: BentoML's, from its metrics
  middleware called to the last body handed back.

Prints each one's quantiles and their ratio to wrk's (server / wrk), and, as a third
view, the exact quantiles of the ``latency_ms`` that every decision record of the run
carries (measured inside the endpoint: from the parsed body to the decision, so a little
less than either histogram)::

    python benchmarks/latency_quantiles.py                    # 32 connections, 20 s
    python benchmarks/latency_quantiles.py --connections 8 --seconds 10

wrk measures from the client: the wire histogram's time plus the loopback and the time
the request waits in its socket before the worker's event loop reads it; BentoML's
histogram also misses uvicorn's parsing and the wait for the event loop to run the
request's task.
Needs ``wrk`` (Debian package) and a trained model in the store (``BENTOML_HOME``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
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

HISTOGRAMS = {
    "wire": "credit_request_duration_seconds",
    "in the app": "bentoml_service_request_duration_seconds",
}
"""Each histogram read, by the name its rows are printed under."""
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
            text = client.get("/metrics").text
            before = {view: read_buckets(text, name, ENDPOINT) for view, name in HISTOGRAMS.items()}
            started = dt.datetime.now(dt.UTC)
            rps, wrk_p50, wrk_p99, errors = wrk(url, script, args.connections, args.seconds)
            text = client.get("/metrics").text
            after = {view: read_buckets(text, name, ENDPOINT) for view, name in HISTOGRAMS.items()}
    finally:
        server.stop()
    recorded = [
        record["latency_ms"]
        for record in read_records(server.monitoring_dir).records
        if record["endpoint"] == "/classify" and parse_time(record["time"]) >= started
    ]
    # None with records off (CREDIT_RISK_MONITORING=false in this environment).
    record_p50, record_p99 = np.percentile(recorded, [50, 99]).tolist() if recorded else (0, 0)
    observed = {view: delta(after[view], before[view]) for view in HISTOGRAMS}
    counts = ", ".join(f"{view} {buckets[math.inf]:.0f}" for view, buckets in observed.items())
    print(
        f"{args.topology}, wrk -t2 -c{args.connections} -d{args.seconds}s: "
        f"{rps:.0f} req/s, requests in the histograms: {counts}, "
        f"{errors} errors, {len(recorded)} records, load average {load_average()}"
    )
    views = list(HISTOGRAMS)
    print(
        "| quantile | wrk ms | "
        + " | ".join(f"{view} ms | {view} / wrk" for view in views)
        + " | records ms |"
    )
    print("|---|---:|" + "---:|---:|" * len(views) + "---:|")
    for name, quantile, client_ms, record_ms in (
        ("p50", 0.5, wrk_p50, record_p50),
        ("p99", 0.99, wrk_p99, record_p99),
    ):
        cells = []
        for view in views:
            server_ms = histogram_quantile(quantile, observed[view]) * 1000
            cells.append(f"{server_ms:.2f} | {server_ms / client_ms:.2f}")
        print(f"| {name} | {client_ms:.2f} | " + " | ".join(cells) + f" | {record_ms:.2f} |")


def load_average() -> str:
    """The machine's 1, 5 and 15 minute load averages: the numbers mean little without."""
    return " ".join(f"{load:.2f}" for load in os.getloadavg())


if __name__ == "__main__":
    main()
