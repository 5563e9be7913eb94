"""Decision records read with DuckDB and joined with the stored outcomes.

The records are read as ``credit_risk.records.reader`` defines them: the same files
(``record_files``); a line that does not parse, or lacks a ``decision_id`` or a
``default_probability``, is skipped (DuckDB's ``ignore_errors`` turns it into an
empty row); a file's last line without its newline is *partial* and skipped even
when what was written of it parses. Batch runs' Parquet record files are read with
``read_parquet``; one without its footer (a torn copy) is partial and skipped whole.
A decision recorded twice (a retried batch task) counts once: the earliest record of
the id is kept.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import duckdb

from credit_risk.records.reader import is_columnar, record_files, whole_parquet

TAIL_BYTES: Final = 1 << 20
"""More than any record line: the tail read to find a file's partial last line."""

_COLUMNS: Final = (
    "{'decision_id': 'VARCHAR', 'time': 'VARCHAR', 'model_tag': 'VARCHAR',"
    " 'status': 'VARCHAR', 'default_probability': 'DOUBLE', 'score': 'INTEGER',"
    " 'application': 'STRUCT(age BIGINT, marital VARCHAR)'}"
)

_FIELDS: Final = """decision_id::VARCHAR AS decision_id, time::VARCHAR AS time,
    model_tag::VARCHAR AS model_tag, status::VARCHAR AS status,
    default_probability::DOUBLE AS default_probability, score::INTEGER AS score,
    application.age::BIGINT AS age, application.marital::VARCHAR AS marital, filename"""
"""What the join reads of a record, alike from JSON lines and from Parquet."""


@dataclass
class RecordsScan:
    """What the reading of the records found."""

    files: int = 0
    rows: int = 0
    """Lines that held a decision (before de-duplication)."""
    decisions: int = 0
    duplicates: int = 0
    partial: int = 0
    partial_ids: list[tuple[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, int]:
        """JSON-ready figures."""
        return {
            "files": self.files,
            "rows": self.rows,
            "decisions": self.decisions,
            "duplicates": self.duplicates,
            "partial": self.partial,
        }


def _partial_last_line(path: Path) -> tuple[bool, str | None]:
    """Whether the file ends without a newline, and the id its torn line carries."""
    size = path.stat().st_size
    if size == 0:
        return False, None
    with path.open("rb") as stream:
        stream.seek(max(0, size - TAIL_BYTES))
        tail = stream.read()
    if tail.endswith(b"\n"):
        return False, None
    try:
        record = json.loads(tail.rsplit(b"\n", 1)[-1])
    except ValueError:
        return True, None
    decision_id = record.get("decision_id") if isinstance(record, dict) else None
    return True, decision_id if isinstance(decision_id, str) else None


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def create_decisions(connection: duckdb.DuckDBPyConnection, records: Path) -> RecordsScan:
    """Make the temporary table ``decisions`` (one row per decision id) from the
    records at ``records`` (a file, a monitoring directory, a volume of them)."""
    found = record_files(records)
    scan = RecordsScan(files=len(found))
    files = [path for path in found if not is_columnar(path)]
    columnar = [path for path in found if is_columnar(path) and whole_parquet(path)]
    scan.partial += len(found) - len(files) - len(columnar)
    connection.execute(
        """CREATE OR REPLACE TEMP TABLE torn (filename VARCHAR, decision_id VARCHAR)"""
    )
    for path in files:
        torn, decision_id = _partial_last_line(path)
        if torn:
            scan.partial += 1
            if decision_id is not None:
                scan.partial_ids.append((str(path), decision_id))
    if scan.partial_ids:
        connection.executemany("INSERT INTO torn VALUES (?, ?)", scan.partial_ids)
    sources = [
        "SELECT NULL::VARCHAR AS decision_id, NULL::VARCHAR AS time, NULL::VARCHAR AS "
        "model_tag, NULL::VARCHAR AS status, NULL::DOUBLE AS default_probability, "
        "NULL::INTEGER AS score, NULL::BIGINT AS age, NULL::VARCHAR AS marital,"
        " NULL::VARCHAR AS filename WHERE false"
    ]
    if files:
        listed = "[" + ", ".join(_literal(str(path)) for path in files) + "]"
        sources.append(
            f"""SELECT {_FIELDS} FROM read_json({listed}, format = 'newline_delimited',
            columns = {_COLUMNS}, ignore_errors = true, filename = true,
            maximum_object_size = {TAIL_BYTES})"""
        )
    if columnar:
        listed = "[" + ", ".join(_literal(str(path)) for path in columnar) + "]"
        sources.append(
            f"SELECT {_FIELDS} FROM read_parquet({listed}, union_by_name = true, filename = true)"
        )
    source = " UNION ALL ".join(sources)
    connection.execute(
        f"""CREATE OR REPLACE TEMP TABLE decision_rows AS
        SELECT r.decision_id, TRY_CAST(r.time AS TIMESTAMPTZ) AS time, r.model_tag, r.status,
               r.default_probability, r.score, r.age, r.marital, r.filename
        FROM ({source}) r ANTI JOIN torn t USING (filename, decision_id)
        WHERE r.decision_id IS NOT NULL AND r.default_probability IS NOT NULL
          AND isfinite(r.default_probability)"""
    )
    connection.execute(
        """CREATE OR REPLACE TEMP TABLE decisions AS
        SELECT * EXCLUDE (filename) FROM decision_rows
        QUALIFY row_number() OVER (PARTITION BY decision_id ORDER BY time, filename) = 1"""
    )
    scan.rows = _scalar(connection, "SELECT count(*) FROM decision_rows")
    scan.decisions = _scalar(connection, "SELECT count(*) FROM decisions")
    scan.duplicates = scan.rows - scan.decisions
    connection.execute("DROP TABLE decision_rows")
    return scan


def _scalar(connection: duckdb.DuckDBPyConnection, query: str) -> int:
    row = connection.execute(query).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


JOINED: Final = """
SELECT d.decision_id, d.time, strftime(d.time, '%Y-%m') AS vintage, d.model_tag, d.status,
       d.default_probability, d.score, d.age, d.marital, o.defaulted
FROM decisions d JOIN outcomes o USING (decision_id)
"""
"""Every decision with its outcome (after ``create_decisions``)."""
