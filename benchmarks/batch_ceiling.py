"""Batch scoring against the machine's ceiling, in one run on one portfolio.

The ceiling is the compiled explainer alone on the encoded matrix, one core (numpy
and BLAS held to one thread), times the cores: nothing that scores and explains can
go faster here. On this shared machine it moves by a third within minutes, so the run
is made of rounds (``--rounds``, 3): each measures the ceiling, every path, and the
ceiling again, and shares a path's rate with the higher of its own round's two
(understated, if anything); the median share over the rounds is the result. The
explainer is also run alone in one process per core at once, their rates summed: what
the cores really do together (two share caches and memory bandwidth). Each path,
measured the same way on the same portfolio:

* ``score.py`` Parquet to Parquet, records on (the job's own rows/s; wall time, peak
  RSS, records' bytes per decision, and the records' share of the run: the same run
  with records off);
* ``/classify_batch`` on ``bentoml serve`` (embedded, 2 API workers), requests of
  1,000 applications of the portfolio, records on, ``wrk`` at 2, 4 and 8 connections;
* a pandas + XGBoost baseline: read with pandas, encode, ``inplace_predict`` and
  ``pred_contribs`` (2 threads), write the answers; no validation, no records.

    python benchmarks/batch_ceiling.py                        # 300,000 rows, ~8 minutes
    python benchmarks/batch_ceiling.py --memory-rows 100000 1000000  # and peak memory

Needs ``wrk`` (Debian package) and a trained model in the store (``BENTOML_HOME``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))

from benchmarks.bench import wrk  # noqa: E402
from tests.support.servers import free_port, launch  # noqa: E402

ONE_THREAD = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
"""The ceiling's process: one core, BLAS and OpenMP included."""

CHUNK_ROWS = 65_536
"""The explainer's input per call, as score.py's chunks."""

_CEILING = """
import json, sys, time
import bentoml, numpy as np, pyarrow.parquet as pq
from credit_risk.batch.validation import validate_chunk
from credit_risk.features import encode_columns
from credit_risk.model.store import load_from_store
served = load_from_store(bentoml.models.get(sys.argv[2]), nthread=1)
table = pq.read_table(sys.argv[1])
matrices = [
    encode_columns(validate_chunk(table.slice(start, CHUNK), from_text=False).columns)
    for start in range(0, table.num_rows, CHUNK)
]
served.explain(matrices[0][:1000])
if len(sys.argv) > 3:  # beside others: wait for the common start, then 3 passes together
    time.sleep(max(0.0, float(sys.argv[3]) - time.time()))
    started = time.perf_counter()
    for _ in range(3):
        for matrix in matrices:
            served.explain(matrix)
    print(json.dumps({"rows_per_s": 3 * table.num_rows / (time.perf_counter() - started)}))
    sys.exit()
best = 0.0
for _ in range(2):
    started = time.perf_counter()
    for matrix in matrices:
        served.explain(matrix)
    best = max(best, table.num_rows / (time.perf_counter() - started))
print(json.dumps({"rows_per_s": best}))
""".replace("CHUNK", str(CHUNK_ROWS))

START_DELAY_S = 20.0
"""Time for the parallel ceiling's processes to load before their common start."""

_BASELINE = """
import json, sys, time
import bentoml, numpy as np, pandas as pd, xgboost as xgb
from credit_risk.features import encode_columns
from credit_risk.model.store import load_from_store
served = load_from_store(bentoml.models.get(sys.argv[2]), nthread=2, compile_explainer=False)
started = time.perf_counter()
frame = pd.read_parquet(sys.argv[1])
features = encode_columns(frame)
probabilities = served.booster.inplace_predict(features)
contributions = served.booster.predict(xgb.DMatrix(features, nthread=2), pred_contribs=True)
out = pd.DataFrame(contributions, columns=[f"c{i}" for i in range(contributions.shape[1])])
out.insert(0, "default_probability", probabilities)
out.to_parquet(sys.argv[3])
print(json.dumps({"rows_per_s": len(frame) / (time.perf_counter() - started)}))
"""


def _python(code: str, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    output = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    result: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    return result


def parallel_ceiling(source: Path, model: str, cores: int) -> float:
    """The explainer alone in ``cores`` one-thread processes at once, their rows/s summed:
    what the cores do together (they share caches and memory bandwidth)."""
    start_at = str(time.time() + START_DELAY_S)
    env = {**os.environ, "PYTHONPATH": str(ROOT), **ONE_THREAD}
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _CEILING, str(source), model, start_at],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(cores)
    ]
    rates = [json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in processes]
    return float(sum(rate["rows_per_s"] for rate in rates))


def portfolio(path: Path, rows: int, model: str) -> Path:
    """The generated portfolio (``python -m credit_risk.generator --seed 0``), made once."""
    if not path.exists():
        subprocess.run(
            [
                sys.executable,
                "-m",
                "credit_risk.generator",
                "--rows",
                str(rows),
                "--seed",
                "0",
                "--model",
                model,
                "-o",
                str(path),
            ],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
    return path


def peak_memory(command: list[str], env: dict[str, str]) -> tuple[str, float, float, float]:
    """Run ``command``; its output, wall seconds, peak RSS in MB of the process alone, and
    the peak of its whole tree's proportional set size (workers and fork server summed,
    each shared page divided among the processes that share it, as RSS summed would
    not), sampled every 20 ms."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as output:
        process = psutil.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)
        alone = tree = 0
        while process.poll() is None:
            try:
                processes = [process, *process.children(recursive=True)]
                alone = max(alone, process.memory_info().rss)
                tree = max(tree, sum(p.memory_full_info().pss for p in processes))
            except psutil.Error:  # a worker ending between listing and reading
                continue
            time.sleep(0.02)
        wall = time.perf_counter() - started
        output.seek(0)
        text = output.read().decode()
    if process.returncode:
        raise RuntimeError(f"{command} failed ({process.returncode}):\n{text}")
    return text, wall, alone / 2**20, tree / 2**20


def score_py(
    source: Path, work: Path, model: str, *, workers: int | None, records: bool, tag: str
) -> dict[str, Any]:
    """One ``score.py`` run: rows/s, wall, peak RSS, records."""
    records_dir = work / f"records-{tag}"
    shutil.rmtree(records_dir, ignore_errors=True)  # this run's records only
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}
    if not records:
        env["CREDIT_RISK_MONITORING"] = "false"
    command = [sys.executable, str(ROOT / "score.py"), str(source)]
    command += ["-o", str(work / f"out-{tag}.parquet"), "--model", model]
    command += ["--records-dir", str(records_dir), "--run-id", "bench"]
    if workers is not None:
        command += ["--workers", str(workers)]
    text, wall, alone, tree = peak_memory(command, env)
    record_bytes = sum(p.stat().st_size for p in records_dir.rglob("*") if p.is_file())
    rows = int(re.search(r"applications\s*│\s*([\d,]+)", text).group(1).replace(",", ""))  # type: ignore[union-attr]
    # score.py's own rows/s: its seconds are printed to a tenth, which moved a rate by 2%.
    rate = float(re.search(r"rows/s\s*│\s*([\d,]+)", text).group(1).replace(",", ""))  # type: ignore[union-attr]
    share = re.search(r"records' share of scoring\s*│\s*([\d.]+)%", text)
    return {
        "rows": rows,
        "seconds": rows / rate,
        "rows_per_s": rate,
        "wall_s": wall,
        "peak_rss_mb": alone,
        "peak_rss_tree_mb": tree,
        "record_bytes_per_decision": record_bytes / rows if records else 0.0,
        "records_share": float(share.group(1)) / 100 if share else 0.0,
    }


def batch_script(source: Path, path: Path, bodies: int = 8) -> Path:
    """A wrk script cycling over ``bodies`` requests of 1,000 of the portfolio's applications."""
    import pyarrow.parquet as pq

    from credit_risk.schema import MAX_BATCH_SIZE, application_records

    table = pq.read_table(source).slice(0, bodies * MAX_BATCH_SIZE).to_pandas()
    applications = application_records(table)
    texts = [
        json.dumps({"applications": applications[i : i + MAX_BATCH_SIZE]})
        for i in range(0, len(applications), MAX_BATCH_SIZE)
    ]
    lines = ['wrk.method = "POST"', 'wrk.headers["Content-Type"] = "application/json"']
    lines.append("bodies = {" + ", ".join(json.dumps(text) for text in texts) + "}")
    lines.append("counter = 0")
    lines.append(
        "request = function() counter = counter % #bodies + 1; "
        "return wrk.format(nil, nil, nil, bodies[counter]) end"
    )
    path.write_text("\n".join(lines) + "\n")
    return path


@contextlib.contextmanager
def batch_server(source: Path, work: Path) -> Iterator[tuple[str, Path]]:
    """``bentoml serve`` (embedded, records on) warmed up, and a wrk script of bodies of
    the portfolio: the ``/classify_batch`` URL and the script."""
    script = batch_script(source, work / "batch.lua")
    port = free_port()
    server = launch(
        [str(BIN / "bentoml"), "serve", ".", "--host", "127.0.0.1", "--port", str(port)],
        port=port,
        log_path=work / "serve.log",
        env={
            **os.environ,
            "CREDIT_RISK_TOPOLOGY": "embedded",
            "CREDIT_RISK_MONITORING_DIR": str(work / "serve-records"),
        },
        topology="embedded",
        monitoring_dir=work / "serve-records",
    )
    try:
        url = f"{server.url}/classify_batch"
        wrk(url, script, 2, 3)  # warm-up
        yield url, script
    finally:
        server.stop()


def classify_batch(
    url: str, script: Path, connections: list[int], seconds: int
) -> dict[int, dict[str, float]]:
    """``/classify_batch`` applications/s at each number of connections (records on)."""
    from credit_risk.schema import MAX_BATCH_SIZE

    results: dict[int, dict[str, float]] = {}
    for count in connections:
        rps, p50, p99, errors, _requests = wrk(url, script, count, seconds)
        results[count] = {
            "rows_per_s": rps * MAX_BATCH_SIZE,
            "p50_ms": p50,
            "p99_ms": p99,
            "errors": errors,
        }
    return results


def one_round(
    args: argparse.Namespace, source: Path, work: Path, server: tuple[str, Path] | None, index: int
) -> dict[str, Any]:
    """The ceiling, then every path, then the ceiling again: shares of this round's
    ceiling (the higher of the two, so that a share is, if anything, understated)."""
    before = _python(_CEILING, str(source), args.model, env=ONE_THREAD)["rows_per_s"]
    workers = args.score_workers
    on = score_py(source, work, args.model, workers=workers, records=True, tag=f"on-{index}")
    off = score_py(source, work, args.model, workers=workers, records=False, tag=f"off-{index}")
    http = {} if server is None else classify_batch(*server, args.connections, args.seconds)
    after = _python(_CEILING, str(source), args.model, env=ONE_THREAD)["rows_per_s"]
    ceiling = max(before, after) * args.cores
    shares = {
        "score_py": on["rows_per_s"] / ceiling,
        "score_py_no_records": off["rows_per_s"] / ceiling,
    }
    shares |= {f"classify_batch_{c}": r["rows_per_s"] / ceiling for c, r in http.items()}
    return {
        "explainer_one_core_before_after": [before, after],
        "ceiling": ceiling,
        "score_py": on,
        "score_py_no_records": off,
        "classify_batch": http,
        "shares": shares,
    }


def main() -> None:
    """Measure every path in each round against that round's ceiling; print the rounds
    and the median share of each path."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--model", default="credit_risk_model:latest")
    parser.add_argument("--cores", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--connections", nargs="+", type=int, default=[2, 4, 8])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3, help="rounds of every path (default 3)")
    parser.add_argument(
        "--score-workers", type=int, help="score.py --workers (default: score.py's)"
    )
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument(
        "--memory-rows",
        nargs="*",
        type=int,
        default=[],
        help="also score.py on portfolios of these sizes, for peak memory (e.g. 100000 1000000)",
    )
    parser.add_argument("--work", type=Path, help="scratch folder (default: a new one)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    work = args.work or Path(tempfile.mkdtemp(prefix="credit-risk-batch-"))
    work.mkdir(parents=True, exist_ok=True)
    source = portfolio(work / f"portfolio-{args.rows}.parquet", args.rows, args.model)
    started = time.perf_counter()
    together = parallel_ceiling(source, args.model, args.cores)
    with contextlib.ExitStack() as stack:
        server = None if args.skip_http else stack.enter_context(batch_server(source, work))
        rounds = [one_round(args, source, work, server, index) for index in range(args.rounds)]
    baseline = _python(_BASELINE, str(source), args.model, str(work / "baseline.parquet"))
    memory = {
        rows: score_py(
            portfolio(work / f"portfolio-{rows}.parquet", rows, args.model),
            work,
            args.model,
            workers=args.score_workers,
            records=True,
            tag=f"memory-{rows}",
        )
        for rows in args.memory_rows
    }
    medians = {
        path: statistics.median(round_["shares"][path] for round_ in rounds)
        for path in rounds[0]["shares"]
    }
    ceiling = statistics.median(round_["ceiling"] for round_ in rounds)
    results = {
        "rows": args.rows,
        "cores": args.cores,
        "rounds": rounds,
        "median_shares": medians,
        "median_ceiling": ceiling,
        "explainer_all_cores_together": together,
        "baseline": baseline["rows_per_s"],
        "memory": memory,
        "seconds": time.perf_counter() - started,
    }

    print(f"\n{args.rows:,} applications, {args.cores} cores, {work}\n")
    print(
        "| round | path | rows/s | share of the round's ceiling | notes |\n|---|---|---:|---:|---|"
    )
    for index, round_ in enumerate(rounds, 1):
        before, after = round_["explainer_one_core_before_after"]
        on, off = round_["score_py"], round_["score_py_no_records"]
        print(
            f"| {index} | ceiling: compiled explainer alone, one core x {args.cores} | "
            f"{round_['ceiling']:,.0f} | 100% | one core {before:,.0f} before, {after:,.0f} after |"
        )
        print(
            f"| {index} | score.py, Parquet to Parquet, records on | {on['rows_per_s']:,.0f} | "
            f"{round_['shares']['score_py']:.0%} | --workers "
            f"{args.score_workers or 'default (one per core)'}; wall {on['wall_s']:.1f} s, "
            f"peak RSS {on['peak_rss_mb']:,.0f} MB ({on['peak_rss_tree_mb']:,.0f} MB PSS with "
            f"its workers), records {on['record_bytes_per_decision']:.0f} bytes/decision, "
            f"{on['records_share']:.1%} of the scoring |"
        )
        print(
            f"| {index} | score.py, records off | {off['rows_per_s']:,.0f} | "
            f"{round_['shares']['score_py_no_records']:.0%} | records cost "
            f"{1 - on['rows_per_s'] / off['rows_per_s']:.0%} of the throughput |"
        )
        for count, result in round_["classify_batch"].items():
            print(
                f"| {index} | /classify_batch, {count} connections | {result['rows_per_s']:,.0f} "
                f"| {round_['shares'][f'classify_batch_{count}']:.0%} | p50 "
                f"{result['p50_ms']:.0f} ms, p99 {result['p99_ms']:.0f} ms, "
                f"errors {result['errors']} |"
            )
    print("\n| path | median share over the rounds |\n|---|---:|")
    for path, share in medians.items():
        print(f"| {path} | {share:.0%} |")
    print(
        f"\n{args.cores} explainers alone at once, summed: {together:,.0f} rows/s "
        f"({together / ceiling:.0%} of the median ceiling); pandas + XGBoost pred_contribs "
        f"(2 threads): {baseline['rows_per_s']:,.0f} rows/s "
        f"({baseline['rows_per_s'] / ceiling:.0%})"
    )
    if memory:
        print(
            "\n| score.py, records on | rows/s | peak RSS | with its workers (PSS) |"
            "\n|---|---:|---:|---:|"
        )
    for rows, run in memory.items():
        print(
            f"| {rows:,} rows | {run['rows_per_s']:,.0f} | {run['peak_rss_mb']:,.0f} MB "
            f"| {run['peak_rss_tree_mb']:,.0f} MB |"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
