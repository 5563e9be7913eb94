"""The batch scorer on Apache Spark: ``mapInArrow`` over the same ``BatchScorer``.

The model travels as the file ``bentoml.models.export_model`` writes
(``SparkContext.addFile``); each Python worker imports it into a store of its
own and loads it once, so the job runs unchanged on ``local[*]``, a standalone
cluster, YARN or Kubernetes. The package's code travels as a zip
(``addPyFile``); its dependencies must be on the executors (see docs/batch.md).

Each executor writes its partitions' decision records (a Parquet file per Arrow
batch, ``credit_risk.batch.records``), before yielding their decisions, to the
records directory, which on a cluster must be a filesystem
every executor mounts. A task that Spark retries writes its records again, under
the same decision ids (one per run id and ``row_id``, ``credit_risk.batch.ids``), so
the records reader keeps one of each: decisions in the output, and records as read,
exactly once.
"""

from __future__ import annotations

import csv
import os
import shutil
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from credit_risk.batch.scorer import DECISIONS_SCHEMA, BadRow, plain
from credit_risk.vocabulary import APPLICATION_FIELDS

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

ROW_ID: Final = "row_id"
CORRUPT: Final = "_corrupt_record"
ENDPOINT: Final = "score.py --spark"
PACKAGE_DIR: Final = Path(__file__).resolve().parents[1]


class SparkJobError(RuntimeError):
    """The Spark job could not run; the message says why and what to do."""


_loaded: dict[str, Any] = {}
"""Per Python worker: the scorer and the record writer, made on the first partition."""


@dataclass(frozen=True)
class ShippedChallenger:
    """The challenger as the executors get it: its tag, and its exported file (None when
    it is not in the store: its records then say it was not loaded)."""

    tag: str
    file: str | None


def _worker_scorer(
    model_file: str, records_dir: str | None, challenger: ShippedChallenger | None
) -> tuple[Any, Any]:
    if "scorer" not in _loaded:
        import bentoml
        from bentoml._internal.models import ModelStore  # the public import_model has no store=
        from pyspark import SparkFiles

        from credit_risk.batch.records import RecordFiles
        from credit_risk.batch.scorer import BatchScorer
        from credit_risk.model.shadow import BatchChallenger
        from credit_risk.model.store import load_from_store

        store = ModelStore(tempfile.mkdtemp(prefix="credit-risk-models-"))
        model = bentoml.models.import_model(SparkFiles.get(model_file), _model_store=store)
        shadow = None
        if challenger is not None:
            if challenger.file is not None:
                bentoml.models.import_model(SparkFiles.get(challenger.file), _model_store=store)
            # One thread: Spark already runs a Python worker per core.
            shadow = BatchChallenger(challenger.tag, nthread=1, store=store)
        _loaded["scorer"] = BatchScorer(load_from_store(model, nthread=1), shadow)
        _loaded["records"] = RecordFiles(records_dir) if records_dir is not None else None
    return _loaded["scorer"], _loaded["records"]


def partition_scorer(
    model_file: str,
    *,
    from_text: bool,
    records_dir: str | None,
    run_id: str | None = None,
    challenger: ShippedChallenger | None = None,
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """The function ``mapInArrow`` runs on each partition; ``run_id``: decision ids are
    the run's, the same when a task is retried; ``challenger``: scored in the model's
    shadow, into the records."""

    def score_partition(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from credit_risk.batch.records import write_chunk_records

        scorer, records = _worker_scorer(model_file, records_dir, challenger)
        for batch in batches:
            started = time.perf_counter()
            bad_rows: list[BadRow] = []
            table = pa.Table.from_batches([batch])
            if CORRUPT in table.column_names:
                corrupt = table.column(CORRUPT).is_valid()
                for row_id, line in zip(
                    table.filter(corrupt).column(ROW_ID).to_pylist(),
                    table.filter(corrupt).column(CORRUPT).to_pylist(),
                    strict=True,
                ):
                    fields = len(next(csv.reader([line]), []))
                    bad_rows.append(
                        BadRow(
                            row_id,
                            f"malformed line: {fields} fields where the header has "
                            f"{len(APPLICATION_FIELDS)}",
                        )
                    )
                table = table.filter(pc.invert(corrupt))
            ids = np.asarray(table.column(ROW_ID).to_numpy(), dtype=np.int64)
            table = table.select(list(APPLICATION_FIELDS))
            scored = scorer.score(table, ids, from_text=from_text, bad_rows=bad_rows, run_id=run_id)
            if records is not None:
                latency_ms = (time.perf_counter() - started) * 1000
                write_chunk_records(
                    records,
                    scored.columns,
                    scored.decided,
                    endpoint=ENDPOINT,
                    latency_ms=latency_ms,
                    challengers=scored.challengers,
                )
            yield plain(scored.decisions)

    return score_partition


def _ship_challenger(spark: Any, tag: str | None, scratch: str) -> ShippedChallenger | None:
    """Export the challenger to the executors; one missing from the store is shipped as
    its tag alone (its records say so; a challenger never stops a run)."""
    import bentoml

    if tag is None:
        return None
    try:
        model = bentoml.models.get(tag)
    except bentoml.exceptions.NotFound:
        return ShippedChallenger(tag, None)
    exported = bentoml.models.export_model(model.tag, scratch + "/")
    spark.sparkContext.addFile(exported)
    return ShippedChallenger(str(model.tag), Path(exported).name)


def spark_schema() -> Any:
    """``DECISIONS_SCHEMA`` as Spark's ``StructType``."""
    from pyspark.sql.types import DoubleType, LongType, StringType, StructField, StructType

    kinds = {pa.string(): StringType(), pa.int64(): LongType(), pa.float64(): DoubleType()}
    return StructType([StructField(f.name, kinds[f.type], True) for f in DECISIONS_SCHEMA])


def read_applications(spark: SparkSession, path: str, kind: str) -> tuple[DataFrame, bool]:
    """The input as a DataFrame with ``row_id``; and whether its cells are CSV text."""
    from pyspark.sql import functions as F  # noqa: N812 - Spark's own convention
    from pyspark.sql.types import StringType, StructField, StructType

    from credit_risk.batch.validation import check_columns

    if kind == "csv":
        names = spark.read.option("header", True).csv(path).columns
        check_columns(names)
        schema = StructType([StructField(name, StringType(), True) for name in names])
        schema.add(StructField(CORRUPT, StringType(), True))
        frame = (
            spark.read.option("header", True)
            .option("mode", "PERMISSIVE")
            .option("columnNameOfCorruptRecord", CORRUPT)
            .schema(schema)
            .csv(path)
        )
    else:
        frame = spark.read.parquet(path)
        check_columns(frame.columns)
    # Unique and in file order, though not consecutive across partitions.
    return frame.withColumn(ROW_ID, F.monotonically_increasing_id()), kind == "csv"


def _package_zip(directory: Path) -> Path:
    target = directory / "credit_risk.zip"
    with zipfile.ZipFile(target, "w") as archive:
        for source in PACKAGE_DIR.rglob("*.py"):
            archive.write(source, source.relative_to(PACKAGE_DIR.parent))
    return target


@dataclass(frozen=True)
class SparkSummary:
    """What a Spark job did."""

    rows: int
    by_status: dict[str, int]
    seconds: float
    """From the session's start to the counts of the written output."""

    @property
    def rows_per_second(self) -> float:
        """Throughput over the whole job, the session's start included."""
        return self.rows / self.seconds if self.seconds else 0.0


def run_spark_job(
    input_path: Path | str,
    output_path: Path | str,
    *,
    model_tag: str,
    master: str | None,
    partitions: int | None,
    records_dir: str | None,
    run_id: str | None = None,
    challenger_tag: str | None = None,
) -> SparkSummary:
    """Score ``input_path`` into the directory ``output_path`` on Spark, each executor
    writing its decisions' records under ``records_dir`` (None: no records), with the
    decision ids of ``run_id`` (random ids when None), and ``challenger_tag`` scored in
    the model's shadow into them.

    Raises ``SparkJobError`` with what to do when the model, Java or the input is missing.
    """
    import bentoml

    from credit_risk.batch.io import file_format

    if shutil.which("java") is None and "JAVA_HOME" not in os.environ:
        raise SparkJobError("Spark needs Java 17: apt-get install openjdk-17-jre-headless")
    try:
        kind = file_format(Path(str(output_path)))
        input_kind = file_format(Path(str(input_path)))
    except ValueError as error:
        raise SparkJobError(str(error)) from None
    try:
        model = bentoml.models.get(model_tag)
    except bentoml.exceptions.NotFound:
        raise SparkJobError(
            f"model {model_tag} is not in the model store; train one with `python train.py`"
        ) from None
    if records_dir is not None:
        # Executors may run in another working directory.
        records_dir = str(Path(records_dir).resolve())
    # Local mode: the Python workers are this interpreter, with its packages.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName("credit-risk-score")
    if master is not None:
        builder = builder.master(master)
    started = time.perf_counter()
    spark = builder.getOrCreate()
    try:
        with tempfile.TemporaryDirectory(prefix="credit-risk-spark-") as scratch:
            exported = bentoml.models.export_model(model.tag, scratch + "/")
            spark.sparkContext.addFile(exported)
            challenger = _ship_challenger(spark, challenger_tag, scratch)
            spark.sparkContext.addPyFile(str(_package_zip(Path(scratch))))
            try:
                frame, from_text = read_applications(spark, str(input_path), input_kind)
            except ValueError as error:
                raise SparkJobError(f"{input_path}: {error}") from None
            if partitions is not None:
                frame = frame.repartition(partitions, ROW_ID).sortWithinPartitions(ROW_ID)
            decisions = frame.mapInArrow(
                partition_scorer(
                    Path(exported).name,
                    from_text=from_text,
                    records_dir=records_dir,
                    run_id=run_id,
                    challenger=challenger,
                ),
                spark_schema(),
            )
            writer = decisions.write.mode("overwrite")
            if kind == "csv":
                writer.option("header", True).csv(str(output_path))
            else:
                writer.parquet(str(output_path))
        written = (
            spark.read.option("header", True).csv(str(output_path))
            if kind == "csv"
            else spark.read.parquet(str(output_path))
        )
        counts = {
            row["status"]: row["count"] for row in written.groupBy("status").count().collect()
        }
    finally:
        spark.stop()
    return SparkSummary(sum(counts.values()), counts, time.perf_counter() - started)
