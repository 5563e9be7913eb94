"""Decision records for a drift demo: real answers of a running server, in the record format.

python benchmarks/drift_demo.py --url http://127.0.0.1:3000 --records /tmp/drift-demo \
    [--reference-rows 3000] [--shifted-rows 2000] [--shift older-larger]

Sends rows of the canonical data (``../shared/data/CreditScoring.csv``), then
shifted ones (``credit_risk.generator.SHIFTS``), to ``/classify_batch`` and writes
one JSON line per decision (application and answer) under ``--records``, as the
service's own decision records do. Used for the report screenshot in docs/drift.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from credit_risk.generator import SHIFTS
from credit_risk.schema import application_records
from credit_risk.training.data import load_credit_data

BATCH = 500


def decision_lines(
    applications: list[dict[str, Any]], answers: list[dict[str, Any]], latency_ms: float
) -> list[str]:
    """Decision records of one batch, one JSON line each."""
    now = dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")
    return [
        json.dumps(
            {
                "decision_id": answer.get("decision_id", str(uuid.uuid4())),
                "time": now,
                "model_tag": answer["model_tag"],
                "policy_version": answer["policy_version"],
                "endpoint": "/classify_batch",
                "application": application,
                "status": answer["status"],
                "default_probability": answer["default_probability"],
                "score": answer["score"],
                "reasons": [
                    {k: r[k] for k in ("code", "field", "contribution")} for r in answer["reasons"]
                ],
                "out_of_training_range": answer["out_of_training_range"],
                "latency_ms": round(latency_ms, 3),
            }
        )
        + "\n"
        for application, answer in zip(applications, answers, strict=True)
    ]


def main() -> None:
    """Send the traffic and write the records."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default="http://127.0.0.1:3000")
    parser.add_argument("--records", type=Path, required=True)
    parser.add_argument("--data", type=Path, default=Path("../shared/data/CreditScoring.csv"))
    parser.add_argument("--reference-rows", type=int, default=3000)
    parser.add_argument("--shifted-rows", type=int, default=2000)
    parser.add_argument("--shift", choices=list(SHIFTS), default="older-larger")
    args = parser.parse_args()
    rows = application_records(load_credit_data(args.data))
    rng = np.random.default_rng(0)
    reference = [rows[i] for i in rng.integers(0, len(rows), args.reference_rows)]
    shifted = SHIFTS[args.shift].apply(
        [rows[i] for i in rng.integers(0, len(rows), args.shifted_rows)], rng
    )
    args.records.mkdir(parents=True, exist_ok=True)
    with httpx.Client(base_url=args.url, timeout=60) as client:
        for part, applications in (("reference", reference), (args.shift, shifted)):
            with (args.records / f"demo-{part}.jsonl").open("w") as file:
                for start in range(0, len(applications), BATCH):
                    batch = applications[start : start + BATCH]
                    started = time.perf_counter()
                    response = client.post("/classify_batch", json={"applications": batch})
                    response.raise_for_status()
                    latency_ms = (time.perf_counter() - started) * 1000
                    file.writelines(decision_lines(batch, response.json()["decisions"], latency_ms))
            print(f"{len(applications)} {part} decisions written")


if __name__ == "__main__":
    main()
