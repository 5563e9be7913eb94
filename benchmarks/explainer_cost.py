"""Per-row cost of explaining: the compiled explainer against XGBoost's own path.

Both produce what ``ServedModel.explain`` answers (the default probability, then
the 13 fields' contributions) for the same rows, on one thread:

* ``compiled``: ``CompiledExplainer.explain`` (the service's path);
* ``xgboost``: ``xgboost_reasons.explain``, i.e. ``inplace_predict`` + ``DMatrix`` +
  ``pred_contribs`` summed to the fields (the fallback path, and the
  FastAPI-with-XGBoost baseline's).

Rows are applications drawn from the model's stored reference distribution
(missing values included), encoded. Batch sizes are timed alternately, round by
round, so that both engines share the machine's ups and downs; each figure is
the median over the rounds, in CPU time of this process. Output, a Markdown table::

    | rows per call | compiled µs/row | xgboost µs/row | xgboost / compiled |

then one line with the compiled explainer's build-and-check time at load.
``--json`` also writes the figures.

    python benchmarks/explainer_cost.py                      # ~30 s
    python benchmarks/explainer_cost.py --rounds 5 --json cost.json

Needs a trained model in the store (``python train.py``); ``--model-tag`` picks one.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import bentoml
import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from credit_risk.features import encode_columns  # noqa: E402
from credit_risk.generator import ApplicationGenerator  # noqa: E402
from credit_risk.model import DEFAULT_MODEL_TAG, xgboost_reasons  # noqa: E402
from credit_risk.model.store import load_from_store  # noqa: E402
from credit_risk.vocabulary import APPLICATION_FIELDS  # noqa: E402

BATCH_SIZES = (1, 16, 1000)
ROWS_PER_TIMING = 4000
"""Rows explained per engine, batch size and round: enough calls to time one-row calls."""


def per_row_seconds(explain: Callable[[npt.NDArray[np.float32]], object], batches: list) -> float:
    """CPU seconds per row to explain every batch once.

    CPU time of this process rather than wall time: other load on the machine
    then inflates it less (both engines run on one thread).
    """
    started = time.process_time()
    for batch in batches:
        explain(batch)
    return (time.process_time() - started) / sum(len(batch) for batch in batches)


def main() -> None:
    """Time both engines and print the table."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--model-tag", default=DEFAULT_MODEL_TAG)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    stored = bentoml.models.get(args.model_tag)
    started = time.process_time()
    served = load_from_store(stored, nthread=1)
    load_s = time.process_time() - started
    plain = load_from_store(stored, nthread=1, compile_explainer=False)
    load_plain_s = time.process_time() - started - load_s
    if served.compiled is None:
        sys.exit(f"{served.tag}: the compiled explainer refused this model (see the log)")
    compiled = served.compiled.explain

    def xgboost(rows: npt.NDArray[np.float32]) -> object:
        return xgboost_reasons.explain(plain.booster, rows, 1)

    applications = ApplicationGenerator(served.metadata.reference, seed=0).draw(ROWS_PER_TIMING)
    rows = encode_columns({name: [a[name] for a in applications] for name in APPLICATION_FIELDS})
    batches = {size: np.array_split(rows, len(rows) // size) for size in BATCH_SIZES}
    timings: dict[tuple[str, int], list[float]] = {}
    for _ in range(args.rounds):
        for size in BATCH_SIZES:
            for name, engine in (("compiled", compiled), ("xgboost", xgboost)):
                timings.setdefault((name, size), []).append(per_row_seconds(engine, batches[size]))

    header = (
        f"{dt.date.today().isoformat()}, {platform.node()}, {os.cpu_count()} cores, "
        f"{served.tag}, {served.compiled.n_trees} trees, {args.rounds} rounds, one thread"
    )
    print(f"\nPer-row cost of explaining ({header})\n")
    print("| rows per call | compiled µs/row | xgboost µs/row | xgboost / compiled |")
    print("|---:|---:|---:|---:|")
    results = []
    for size in BATCH_SIZES:
        fast = statistics.median(timings[("compiled", size)]) * 1e6
        slow = statistics.median(timings[("xgboost", size)]) * 1e6
        results.append({"rows": size, "compiled_us": fast, "xgboost_us": slow})
        print(f"| {size:,} | {fast:.1f} | {slow:.1f} | {slow / fast:.0f}x |")
    print(
        f"\nLoading the model: {load_s:.2f} CPU s with the compiled explainer read or built, "
        f"and checked, {load_plain_s:.2f} CPU s without."
    )
    if args.json:
        payload = {"header": header, "per_row": results, "load_s": load_s, "plain_s": load_plain_s}
        args.json.write_text(json.dumps(payload, indent=2) + "\n")


if __name__ == "__main__":
    main()
