"""Micro-benchmark: cost of the live drift window per decision (docs/drift.md).

python benchmarks/drift_live.py [--model TAG] [--window 1000]

Feeds ``RollingDrift.observe`` the way the service does (applications column-wise
and their default probabilities), single decisions and batches, gauges included, and prints
µs per decision, with the cost of scoring the same rows (``ServedModel.explain``)
measured in the same run for scale. Each figure is the best of 5 repeats, which
on a shared machine is the least disturbed one. Needs a trained model in the store.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import bentoml

from credit_risk.drift.live import RollingDrift
from credit_risk.drift.psi import ReferenceBins
from credit_risk.features import application_columns, encode_columns
from credit_risk.generator import ApplicationGenerator
from credit_risk.model import DEFAULT_MODEL_TAG
from credit_risk.model.store import load_from_store
from credit_risk.schema import CreditApplication

REPEATS = 5


def _best_us_per_row(run: Callable[[int], None], batch: int, rows: int = 20_000) -> float:
    rounds = max(1, rows // batch)
    best = float("inf")
    for _ in range(REPEATS):
        started = time.perf_counter()
        for i in range(rounds):
            run(i)
        best = min(best, (time.perf_counter() - started) / (rounds * batch) * 1e6)
    return best


def main() -> None:
    """Print µs per decision for batch sizes 1, 8, 100 and 1,000."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default=DEFAULT_MODEL_TAG)
    parser.add_argument("--window", type=int, default=1000)
    args = parser.parse_args()
    served = load_from_store(bentoml.models.get(args.model), nthread=1)
    reference = served.metadata.reference
    drawn = ApplicationGenerator(reference, seed=0).draw(5000)
    applications = [CreditApplication.model_validate(a) for a in drawn]
    probabilities = [(i % 97) / 97 for i in range(len(applications))]
    drift = RollingDrift(ReferenceBins.from_reference(reference), args.window)
    print(f"window {args.window}, best of {REPEATS}:")
    for batch in (1, 8, 100, 1000):
        slices = [
            (application_columns(applications[s : s + batch]), probabilities[s : s + batch])
            for s in range(0, len(applications) - batch + 1, batch)
        ]
        features = [encode_columns(columns) for columns, _ in slices]

        def observe(i: int, slices=slices) -> None:
            drift.observe(*slices[i % len(slices)])

        def explain(i: int, features=features) -> None:
            served.explain(features[i % len(features)])

        drift_us = _best_us_per_row(observe, batch)
        explain_us = _best_us_per_row(explain, batch, rows=min(20_000, 2000 * batch))
        print(
            f"batch {batch:>5}: drift {drift_us:6.2f} µs per decision; explain {explain_us:7.2f} "
            f"µs per row; drift / explain = {drift_us / explain_us:.1%}"
        )
    psi_us = _best_us_per_row(lambda _: drift.psi(), 1, rows=2000)
    print(f"PSI of all 14 distributions from the counts: {psi_us:.1f} µs")


if __name__ == "__main__":
    main()
