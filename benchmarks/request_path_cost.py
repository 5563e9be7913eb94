"""What our own code costs per request, in process, piece by piece.

Times each step the classifier runs for ``/classify`` (one application) and
``/classify_batch`` (1,000), outside any server: the two ASGI middlewares
(``RequestGuard``, ``OpenAPIDocument``) around an app that does nothing, the
parsing of the body into the API's pydantic input (BentoML's step, timed here for
scale), the encoding, ``ServedModel.explain``, the decisions (``decide_columns``
and their JSON form, ``answers``), the record lines (``decision_lines``), the
metrics (``metrics.count_all``) and the JSON response. Writing the records
is not timed here (``records_cost.py`` does). Output, a Markdown table::

    | step | one application µs | batch of 1,000 µs per application |

Each figure is the median over the rounds, in CPU time of this process (other
load on the machine inflates it less than wall time). Metrics go to a temporary
``PROMETHEUS_MULTIPROC_DIR``, and loaded objects are frozen out of the garbage
collector's reach (``gc.freeze``), both as under ``bentoml serve``.

    python benchmarks/request_path_cost.py            # ~20 s
    python benchmarks/request_path_cost.py --rounds 5

Needs a trained model in the store (``python train.py``); ``--model-tag`` picks one.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="prometheus-"))

import bentoml
import numpy as np
import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from credit_risk.decisions import DecisionMaker  # noqa: E402
from credit_risk.features import (  # noqa: E402
    application_columns,
    encode_application,
    encode_applications,
    encode_columns,
)
from credit_risk.generator import ApplicationGenerator  # noqa: E402
from credit_risk.model import DEFAULT_MODEL_TAG  # noqa: E402
from credit_risk.model.store import load_from_store  # noqa: E402
from credit_risk.records import application_rows, decision_lines  # noqa: E402
from credit_risk.schema import ApplicationBatch, CreditApplication  # noqa: E402
from credit_risk.serving import metrics  # noqa: E402
from credit_risk.serving.guards import RequestGuard  # noqa: E402
from credit_risk.serving.openapi import OpenAPIDocument  # noqa: E402

BATCH = 1000


def median_us(step: Callable[[], Any], repeat: int, rounds: int) -> float:
    """Median over ``rounds`` of the mean microseconds of ``step``, run ``repeat`` times."""
    samples = []
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(repeat):
            step()
        samples.append((time.process_time() - started) / repeat * 1e6)
    return statistics.median(samples)


def middleware_step(body: bytes) -> Callable[[], None]:
    """One POST /classify through both middlewares, to an app that answers nothing."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()

    stack = OpenAPIDocument(
        RequestGuard(app, max_body_bytes=1 << 20, needs_body=("/classify",)),
        max_body_bytes=1 << 20,
        api_key_required=False,
    )
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/classify",
        "headers": [
            (b"host", b"127.0.0.1:3000"),
            (b"user-agent", b"wrk"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
    }
    message = {"type": "http.request", "body": body, "more_body": False}

    async def receive() -> dict[str, Any]:
        return message

    async def send(message: Any) -> None:
        return None

    loop = asyncio.new_event_loop()

    async def many(count: int) -> None:
        for _ in range(count):
            await stack(scope, receive, send)

    return lambda: loop.run_until_complete(many(100))


def main() -> None:
    """Time every step and print the table."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--model-tag", default=DEFAULT_MODEL_TAG)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    served = load_from_store(bentoml.models.get(args.model_tag), nthread=1)
    decider = DecisionMaker(served.tag, served.policy, served.training_ranges)
    drawn = ApplicationGenerator(served.metadata.reference, seed=0).draw(BATCH)
    batch = ApplicationBatch.model_validate({"applications": drawn})
    one = batch.applications[0]
    one_body = CreditApplication.model_dump_json(one).encode()
    one_features = np.asarray([encode_application(one)], dtype=np.float32)
    batch_features = encode_applications(batch.applications)
    one_scored = served.explain(one_features)
    batch_scored = served.explain(batch_features)
    one_decided = decider.decide_columns(one_features, one_scored)
    batch_decided = decider.decide_columns(batch_features, batch_scored)
    one_answers, batch_answers = one_decided.answers(), batch_decided.answers()

    # The service takes the applications column-wise once (for the encoding, drift
    # and records); the record lines are built from those columns.
    one_columns = application_columns([one])
    batch_columns = application_columns(batch.applications)

    def record_lines(columns: dict[str, list[Any]], answers: list[Any]) -> list[bytes]:
        return decision_lines(
            application_rows(columns), answers, endpoint="/classify", latency_ms=1.0
        )

    def count(decided: Any) -> None:
        metrics.count_all(decided.status, decided.default_probability.tolist())

    batch_body = batch.model_dump_json().encode()
    steps: list[tuple[str, Callable[[], Any], Callable[[], Any]]] = [
        ("both middlewares (x100)", middleware_step(one_body), lambda: None),
        (
            "parse the body (pydantic, BentoML's step)",
            lambda: CreditApplication.model_validate_json(one_body),
            lambda: ApplicationBatch.model_validate_json(batch_body),
        ),
        (
            "encode (and take the columns)",
            lambda: (
                application_columns([one]),
                np.asarray([encode_application(one)], dtype=np.float32),
            ),
            lambda: encode_columns(application_columns(batch.applications)),
        ),
        (
            "explain",
            lambda: served.explain(one_features),
            lambda: served.explain(batch_features),
        ),
        (
            "decisions",
            lambda: decider.decide_columns(one_features, one_scored).answers(),
            lambda: decider.decide_columns(batch_features, batch_scored).answers(),
        ),
        (
            "record lines",
            lambda: record_lines(one_columns, one_answers),
            lambda: record_lines(batch_columns, batch_answers),
        ),
        (
            "metrics",
            lambda: count(one_decided),
            lambda: count(batch_decided),
        ),
        (
            "JSON response",
            lambda: orjson.dumps(one_answers[0]),
            lambda: orjson.dumps({"decisions": batch_answers}),
        ),
    ]
    # As the service's workers do after loading: the collector never walks what was loaded.
    gc.collect()
    gc.freeze()
    print(f"\nOur code per request, in process ({served.tag}, {args.rounds} rounds)\n")
    print(f"| step | one application µs | batch of {BATCH:,} µs per application |")
    print("|---|---:|---:|")
    for name, single, batched in steps:
        single_us = median_us(single, 200, args.rounds)
        if name.endswith("(x100)"):
            print(f"| {name.removesuffix(' (x100)')} | {single_us / 100:.1f} | |")
            continue
        batched_us = median_us(batched, 3, args.rounds) / BATCH
        print(f"| {name} | {single_us:.1f} | {batched_us:.2f} |")


if __name__ == "__main__":
    main()
