"""Score a whole portfolio: applications in a CSV or Parquet file, decisions out.

python score.py portfolio.csv -o decisions.csv          # or .parquet, in and out
python score.py portfolio.parquet -o decisions.parquet --model credit_risk_model:abc
python score.py --spark --master 'local[*]' portfolio.parquet -o decisions_dir
python score.py portfolio.csv -o decisions.csv --challenger credit_risk_model:def

The model comes from the BentoML store (BENTOML_HOME); decisions are the
online service's (same validation, features, model, policy and reasons); each
one's decision record goes to $CREDIT_RISK_MONITORING_DIR/decisions/ before
its decision reaches the output; with ``--challenger``, the challenger's probability,
status and score too, on Spark as well (docs/governance.md). Exit codes: 0 done,
2 unusable input or arguments, 3 no such model, 4 records cannot be written, 5 Spark
failed.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Final, get_args

from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn
from rich.table import Table

from credit_risk.batch.fork_server import start_fork_server

if TYPE_CHECKING:
    # Imported where used: `--help` and argument errors need no bentoml, xgboost or Spark.
    from credit_risk.batch.io import CsvReader, ParquetReader
    from credit_risk.batch.job import JobSummary, WorkerPool
    from credit_risk.batch.records import BatchRecords
    from credit_risk.batch.spark import SparkSummary
    from credit_risk.model.shadow import BatchChallenger
    from credit_risk.model.store import ServedModel
    from credit_risk.settings import RecordsConfig

console = Console(stderr=True)
logger = logging.getLogger("score")

EXIT_INPUT: Final = 2
EXIT_MODEL: Final = 3
EXIT_RECORDS: Final = 4
EXIT_SPARK: Final = 5


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("input", type=Path, help="applications: *.csv (with a header) or *.parquet")
    parser.add_argument("output", type=Path, nargs="?", help="decisions (or use -o)")
    parser.add_argument("-o", "--output", dest="output_option", type=Path, help="decisions file")
    parser.add_argument(
        "--model",
        help="model store tag (default: the release's champion, as the service serves: "
        "docs/governance.md)",
    )
    parser.add_argument(
        "--challenger",
        help="a challenger scored beside the model, into the records only (default: the "
        "release's challenger, if any)",
    )
    parser.add_argument(
        "--records-dir",
        help="where decision records go (default: $CREDIT_RISK_MONITORING_DIR, or ./monitoring)",
    )
    parser.add_argument(
        "--records-format",
        choices=("parquet", "jsonl"),
        default="parquet",
        help="records to files: a Parquet file per chunk, ~60 bytes a decision (default), "
        "or JSON lines as the service writes them, ~700 bytes",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=os.cpu_count() or 1,
        help="XGBoost threads (default: every core)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="processes that score chunks, this one included (N-1 forked, each handed the "
        "loaded model); default: one per usable core, or 1 for an input of one chunk",
    )
    parser.add_argument(
        "--run-id",
        help="this run's id: decision ids are derived from it and each row's number, so a "
        "run repeated with the same id writes the same ids, and the records reader keeps one "
        "of each (default: a new id, printed)",
    )
    parser.add_argument("--spark", action="store_true", help="run on Spark (pip install .[spark])")
    parser.add_argument(
        "--master", default=None, help="Spark master with --spark (default: spark-submit's)"
    )
    parser.add_argument(
        "--partitions", type=int, default=None, help="Spark partitions (default: Spark's)"
    )
    args = parser.parse_args(argv)
    if args.output and args.output_option:
        parser.error("give the output once: as the second argument or with -o")
    args.output = args.output or args.output_option
    if args.output is None:
        parser.error("no output file: add -o decisions.csv (or .parquet)")
    if args.workers is not None and args.workers < 1:
        parser.error("--workers must be at least 1")
    if args.run_id is not None and not args.run_id.strip():
        parser.error("--run-id must not be empty")
    return args


def run_id_of(args: argparse.Namespace) -> str:
    """The run's id: ``--run-id``, or a new one, printed so that a retry can reuse it."""
    from credit_risk.batch.ids import new_run_id

    run_id: str = args.run_id or new_run_id()
    console.print(f"Run id [bold]{run_id}[/] (repeat with --run-id {run_id})")
    return run_id


def summary_table(summary: JobSummary) -> Table:
    """The job's counts and throughput."""
    from credit_risk.csv_format import INVALID_STATUS
    from credit_risk.schema import Status

    table = Table(title="Batch scoring")
    table.add_column("")
    table.add_column("rows", justify="right")
    table.add_row("applications", f"{summary.rows:,}")
    for status in (*get_args(Status), INVALID_STATUS):
        table.add_row(f"  {status}", f"{summary.by_status.get(status, 0):,}")
    table.add_row("decision records", f"{summary.records:,}")
    table.add_row(
        "records' share of scoring",
        f"{summary.record_seconds / summary.scoring_seconds if summary.scoring_seconds else 0:.1%}",
    )
    table.add_row("seconds", f"{summary.seconds:.1f}")
    table.add_row("rows/s", f"{summary.rows_per_second:,.0f}")
    return table


class CommandError(Exception):
    """Stops the command: an exit code and a message that says what to do."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def load_model(tag: str, threads: int) -> ServedModel:
    """The stored model, loaded to score; ``CommandError`` when the store has no such model."""
    import bentoml

    from credit_risk.model.store import IncompatibleModelError, load_from_store

    try:
        return load_from_store(bentoml.models.get(tag), nthread=threads)
    except bentoml.exceptions.NotFound:
        raise CommandError(
            EXIT_MODEL,
            f"model {tag} is not in the model store "
            f"({os.environ.get('BENTOML_HOME', '~/bentoml')}). Train one with "
            "`python train.py`, or pass --model with a tag from `bentoml models list`.",
        ) from None
    except IncompatibleModelError as error:
        raise CommandError(EXIT_MODEL, str(error)) from None


def challenger_of(args: argparse.Namespace) -> BatchChallenger | None:
    """The challenger to score in the model's shadow (``--challenger``, else the
    release's), loaded; None without one. One that does not load is in the records."""
    from credit_risk.model.shadow import BatchChallenger

    tag = args.challenger
    if tag is None:
        return None
    challenger = BatchChallenger(tag, nthread=args.threads)
    if challenger.error is not None:
        logger.warning("Challenger %s %s; its records say so", tag, challenger.error)
    return challenger


def records_config(records_dir: str | None) -> RecordsConfig | None:
    """``open_writer``'s arguments as the settings describe them (``--records-dir`` first);
    None when records are off."""
    from credit_risk.settings import load_settings

    settings = load_settings()
    if not settings.monitoring:
        logger.warning("Decision records are off (CREDIT_RISK_MONITORING=false).")
        return None
    return settings.records_config(records_dir)


def open_records(config: RecordsConfig | None, records_format: str) -> BatchRecords | None:
    """The decision-record writer of ``config`` in ``records_format``, or None when records
    are off."""
    from credit_risk.batch.records import open_batch_records
    from credit_risk.records import RecordsDirectoryError

    if config is None:
        return None
    try:
        return open_batch_records(config, columnar=records_format == "parquet")
    except RecordsDirectoryError as error:
        raise CommandError(EXIT_RECORDS, f"{error}; or pass --records-dir") from None


def workers_for(reader: CsvReader | ParquetReader, asked: int | None) -> int:
    """The scoring processes: ``--workers`` if given, else one per core, unless the
    input is a single chunk, which one process scores before another could start."""
    from credit_risk.batch.io import CHUNK_ROWS, CSV_BLOCK_BYTES, ParquetReader

    if asked is not None:
        return asked
    one_chunk = CHUNK_ROWS if isinstance(reader, ParquetReader) else CSV_BLOCK_BYTES
    return 1 if reader.total <= one_chunk else usable_cores()


def usable_cores() -> int:
    """The cores this process may run on: its CPU affinity (a container's cpuset), not
    the machine's count."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def score_locally(args: argparse.Namespace) -> None:
    """The embedded default: stream the file through the scorer, in worker processes
    when the file has more than a chunk and the machine more than a core."""
    from credit_risk.batch.io import InputError, ParquetReader, file_format, open_reader
    from credit_risk.batch.job import WorkerPool

    try:
        file_format(args.output)
        reader = open_reader(args.input)
    except InputError as error:
        raise CommandError(EXIT_INPUT, str(error)) from None
    workers = workers_for(reader, args.workers)
    with contextlib.ExitStack() as stack:
        # Workers start now, in the background, while the model loads (WorkerPool).
        pool = stack.enter_context(WorkerPool(workers)) if workers > 1 else None
        if pool is not None and isinstance(reader, ParquetReader):
            reader.share_among(workers)
        score_with(args, reader, pool)


def score_with(
    args: argparse.Namespace, reader: CsvReader | ParquetReader, pool: WorkerPool | None
) -> None:
    """Load the model, score ``reader`` (in ``pool``'s workers, when given) and report."""
    from credit_risk.batch.io import DecisionWriter, InputError
    from credit_risk.batch.job import run_job
    from credit_risk.batch.scorer import BatchScorer
    from credit_risk.records import RecordsUnavailable

    served = load_model(args.model, args.threads)
    config = records_config(args.records_dir)
    records = open_records(config, args.records_format)

    console.print(f"Scoring [bold]{args.input}[/] with [bold]{served.tag}[/] -> {args.output}")
    run_id = run_id_of(args)
    writer = DecisionWriter(args.output)
    progress = Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rows]:>12,} rows"),
        TimeRemainingColumn(),
        console=console,
    )
    try:
        with progress:
            task = progress.add_task("scoring", total=reader.total or 1, rows=0)

            def on_chunk(summary: JobSummary, position: int) -> None:
                progress.update(task, completed=position, rows=summary.rows)

            summary = run_job(
                reader,
                writer,
                BatchScorer(served, challenger_of(args)),
                records,
                on_chunk=on_chunk,
                pool=pool,
                records_config=config,
                run_id=run_id,
            )
            progress.update(task, completed=reader.total or 1)
    except InputError as error:
        raise CommandError(EXIT_INPUT, f"{error} (decisions so far: {writer.partial})") from None
    except RecordsUnavailable as error:
        raise CommandError(
            EXIT_RECORDS, f"{error}; stopped. Decisions with records so far: {writer.partial}"
        ) from None
    finally:
        if records is not None:
            records.close()
    console.print(summary_table(summary))
    if summary.rows == 0:
        console.print(
            f"[yellow]{args.input} has a header but no applications:[/] "
            f"{args.output} has the header only."
        )
    console.print(f"Decisions: [bold green]{args.output}[/]")


def score_on_spark(args: argparse.Namespace) -> None:
    """``--spark``: the same scorer in Spark's executors, each writing its records."""
    from credit_risk.batch.spark import SparkJobError, run_spark_job

    config = records_config(args.records_dir)
    run_id = run_id_of(args)
    try:
        summary = run_spark_job(
            args.input,
            args.output,
            model_tag=args.model,
            master=args.master,
            partitions=args.partitions,
            records_dir=None if config is None else config["monitoring_dir"],
            run_id=run_id,
            challenger_tag=args.challenger,
        )
    except SparkJobError as error:
        raise CommandError(EXIT_SPARK, str(error)) from None
    console.print(spark_line(summary, args.master, args.output))


def spark_line(summary: SparkSummary, master: str | None, output: Path) -> str:
    """What a Spark job did, in one line."""
    return (
        f"Spark ({master or 'spark-submit master'}): {summary.rows:,} rows in "
        f"{summary.seconds:.1f} s ({summary.rows_per_second:,.0f} rows/s, session start "
        f"included); by status {summary.by_status}; decisions in {output}/"
    )


def name_models(args: argparse.Namespace) -> None:
    """Fill ``--model`` and ``--challenger`` from the release when not given: what the
    service serves, never the newest model by default (``credit_risk.model.release``)."""
    if args.model is not None and args.challenger is not None:
        return
    from credit_risk.model.release import NoChampionError, resolve
    from credit_risk.settings import load_settings

    settings = load_settings()
    try:
        release = resolve(
            champion=settings.model_tag,
            challenger=settings.challenger_tag,
            release_file=settings.release_file,
        )
    except NoChampionError as none:
        raise CommandError(EXIT_MODEL, str(none)) from None
    if args.model is None:
        args.model = release.champion
        # The release's challenger shadows the release's champion only.
        args.challenger = args.challenger or release.challenger


EARLY_WORKERS_BYTES: Final = 1 << 20
"""Inputs from this size up start the workers' fork server before anything else: about
a chunk of Parquet (~34 bytes a row) or half a CSV block. A smaller file is most likely
one chunk, which this process scores alone (``workers_for``); a server started for
nothing only spends the other core for its imports, and ends with this process."""


def may_need_workers(args: argparse.Namespace) -> bool:
    """Whether the job may score in worker processes, judged before anything is imported
    or read: not on Spark, not with ``--workers 1``, not on one core, not for a small
    file (``EARLY_WORKERS_BYTES``)."""
    if args.spark or args.workers == 1 or usable_cores() < 2:
        return False
    try:
        return args.input.stat().st_size >= EARLY_WORKERS_BYTES
    except OSError:  # reported as the input's problem once the file is opened
        return False


def main(argv: list[str] | None = None) -> int:
    """Score the input into the output; returns the exit code."""
    args = parse_args(argv)
    if may_need_workers(args):
        # Before this process imports anything heavy: the workers' fork server then
        # imports on the other core meanwhile (credit_risk/batch/fork_server.py).
        start_fork_server()
    logging.basicConfig(
        level=logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=console, show_path=False)],
    )
    try:
        name_models(args)
        if args.spark:
            score_on_spark(args)
        else:
            score_locally(args)
    except CommandError as failure:
        console.print(f"[bold red]error:[/] {failure}")
        return failure.code
    return 0


if __name__ == "__main__":
    sys.exit(main())
