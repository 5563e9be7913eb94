"""Micro-benchmark: cost of the live drift window per decision (docs/drift.md).

python benchmarks/drift_live.py [--model TAG] [--window 1000]

Feeds ``RollingDrift.observe`` the way the service does (CreditApplication objects
and their decisions), single decisions and batches, gauges included, and prints
µs per decision. Needs a trained model in the store (for its reference).
"""

from __future__ import annotations

import argparse
import time

import bentoml

from credit_risk.drift.live import RollingDrift
from credit_risk.drift.psi import ReferenceBins
from credit_risk.generator import ApplicationGenerator
from credit_risk.schema import CreditApplication


class _Decision:
    def __init__(self, probability: float) -> None:
        self.default_probability = probability


def _per_decision_us(drift: RollingDrift, applications: list, decisions: list, batch: int) -> float:
    rounds = max(1, 20_000 // batch)
    started = time.perf_counter()
    for i in range(rounds):
        start = (i * batch) % (len(applications) - batch)
        drift.observe(applications[start : start + batch], decisions[start : start + batch])
    return (time.perf_counter() - started) / (rounds * batch) * 1e6


def main() -> None:
    """Print µs per decision for batch sizes 1, 8, 100 and 1,000."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="credit_risk_model:latest")
    parser.add_argument("--window", type=int, default=1000)
    args = parser.parse_args()
    reference = bentoml.models.get(args.model).info.metadata["reference"]
    drawn = ApplicationGenerator(reference, seed=0).draw(5000)
    applications = [CreditApplication.model_validate(a) for a in drawn]
    decisions = [_Decision((i % 97) / 97) for i in range(len(applications))]
    drift = RollingDrift(ReferenceBins.from_reference(reference), args.window)
    _per_decision_us(drift, applications, decisions, 1)  # warm-up
    for batch in (1, 8, 100, 1000):
        micros = _per_decision_us(drift, applications, decisions, batch)
        print(f"batch {batch:>5}: {micros:6.2f} µs per decision (window {args.window})")
    started = time.perf_counter()
    for _ in range(1000):
        drift.psi()
    print(f"PSI of all 14 distributions: {(time.perf_counter() - started) * 1000:.1f} µs")


if __name__ == "__main__":
    main()
