"""Where outcomes are kept: ``<monitoring_dir>/outcomes/outcomes.duckdb``.

An outcome file is CSV (with a header) or Parquet with the columns
``decision_id`` (text), ``defaulted`` (0 or 1) and ``observed_at`` (ISO 8601 time;
without a zone, UTC). Loading is idempotent: an outcome already stored with the
same ``defaulted`` counts once; one that contradicts it (or another row of the same
file) is a *conflict*: reported and kept in the ``conflicts`` table, never written
over the stored outcome. Rows that are not outcomes (an empty id, ``defaulted`` not
0 or 1, a time that does not parse) are counted as invalid and not stored.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import duckdb

OUTCOMES_SUBDIR: Final = "outcomes"
DATABASE_NAME: Final = "outcomes.duckdb"
OUTCOME_COLUMNS: Final = ("decision_id", "defaulted", "observed_at")
LISTED: Final = 20
"""Ids listed in full in a load's summary (all are in its JSON)."""

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS outcomes (
    decision_id VARCHAR PRIMARY KEY,
    defaulted BOOLEAN NOT NULL,
    observed_at TIMESTAMPTZ,
    source VARCHAR NOT NULL,
    loaded_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS conflicts (
    decision_id VARCHAR NOT NULL,
    stored BOOLEAN,
    offered BOOLEAN NOT NULL,
    source VARCHAR NOT NULL,
    loaded_at TIMESTAMPTZ NOT NULL
);
"""


class OutcomeFileError(ValueError):
    """An outcome file that cannot be read as one (missing, or without its columns)."""


def database_path(monitoring_dir: Path) -> Path:
    """The outcomes database of a monitoring directory."""
    return monitoring_dir / OUTCOMES_SUBDIR / DATABASE_NAME


def connect(monitoring_dir: Path, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open (creating if need be) the outcomes database, times in UTC."""
    path = database_path(monitoring_dir)
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    connection = duckdb.connect(str(path), read_only=read_only)
    connection.execute("SET TimeZone = 'UTC'")
    if not read_only:
        connection.execute(_SCHEMA)
    return connection


@dataclass
class LoadResult:
    """What loading one outcome file did."""

    source: str
    rows: int = 0
    invalid: int = 0
    new: int = 0
    already_known: int = 0
    """Outcomes identical to one stored (a file loaded again): counted once."""
    conflicts: list[tuple[str, bool | None, bool]] = field(default_factory=list)
    """(decision_id, stored ``defaulted`` or ``None`` if the file contradicts itself, offered)."""
    unknown: list[str] = field(default_factory=list)
    """Ids of this file with no decision record."""

    def as_dict(self) -> dict[str, object]:
        """JSON-ready figures."""
        return {
            "source": self.source,
            "rows": self.rows,
            "invalid": self.invalid,
            "new": self.new,
            "already_known": self.already_known,
            "conflicts": [
                {"decision_id": i, "stored": s, "offered": o} for i, s, o in self.conflicts
            ],
            "unknown": self.unknown,
        }


def _source_query(path: Path) -> str:
    if not path.is_file():
        raise OutcomeFileError(f"{path}: no such file")
    quoted = str(path).replace("'", "''")
    if path.suffix.lower() in (".parquet", ".pq"):
        return f"SELECT * FROM read_parquet('{quoted}')"
    return f"SELECT * FROM read_csv('{quoted}', header = true, all_varchar = true)"


def load_outcomes(
    connection: duckdb.DuckDBPyConnection, path: Path, known_ids: str | None = None
) -> LoadResult:
    """Load one outcome file into the database, in one transaction.

    ``known_ids``: a relation (SQL) with a ``decision_id`` column of the decision
    records, against which unknown ids are found; ``None`` skips that check.
    """
    source = _source_query(path)
    try:
        columns = {row[0] for row in connection.execute(f"DESCRIBE {source}").fetchall()}
    except duckdb.Error as error:
        raise OutcomeFileError(f"{path}: {error}") from error
    missing = [name for name in OUTCOME_COLUMNS if name not in columns]
    if missing:
        raise OutcomeFileError(f"{path}: missing column(s) {', '.join(missing)}")
    result = LoadResult(source=str(path))
    now = dt.datetime.now(dt.UTC)
    connection.execute("BEGIN TRANSACTION")
    try:
        connection.execute(
            f"""CREATE OR REPLACE TEMP TABLE incoming AS
            SELECT NULLIF(TRIM(CAST(decision_id AS VARCHAR)), '') AS decision_id,
                   TRY_CAST(TRIM(CAST(defaulted AS VARCHAR)) AS INTEGER) AS defaulted,
                   TRY_CAST(CAST(observed_at AS VARCHAR) AS TIMESTAMPTZ) AS observed_at,
                   observed_at IS NULL AS no_time
            FROM ({source})"""
        )
        result.rows, result.invalid = connection.execute(
            """SELECT count(*), count(*) FILTER (
                   WHERE decision_id IS NULL OR defaulted IS NULL OR defaulted NOT IN (0, 1)
                   OR (observed_at IS NULL AND NOT no_time))
               FROM incoming"""
        ).fetchone() or (0, 0)
        # One row per id of the file; an id the file gives both outcomes is a conflict.
        connection.execute(
            """CREATE OR REPLACE TEMP TABLE offered AS
            SELECT decision_id, min(defaulted) = 1 AS defaulted, max(defaulted) = 1 AS other,
                   min(observed_at) AS observed_at
            FROM incoming
            WHERE decision_id IS NOT NULL AND defaulted IN (0, 1)
              AND (observed_at IS NOT NULL OR no_time)
            GROUP BY decision_id"""
        )
        within = connection.execute(
            "SELECT decision_id FROM offered WHERE defaulted <> other ORDER BY decision_id"
        ).fetchall()
        against = connection.execute(
            """SELECT o.decision_id, s.defaulted, o.defaulted FROM offered o
               JOIN outcomes s USING (decision_id)
               WHERE o.defaulted = o.other AND s.defaulted <> o.defaulted
               ORDER BY o.decision_id"""
        ).fetchall()
        result.conflicts = [(row[0], None, True) for row in within] + [
            (row[0], bool(row[1]), bool(row[2])) for row in against
        ]
        if result.conflicts:
            connection.executemany(
                "INSERT INTO conflicts VALUES (?, ?, ?, ?, ?)",
                [(i, s, o, str(path), now) for i, s, o in result.conflicts],
            )
        result.already_known = _count(
            connection,
            """SELECT count(*) FROM offered o JOIN outcomes s USING (decision_id)
               WHERE o.defaulted = o.other AND s.defaulted = o.defaulted""",
        )
        result.new = _count(
            connection,
            """SELECT count(*) FROM offered o ANTI JOIN outcomes s USING (decision_id)
               WHERE o.defaulted = o.other""",
        )
        connection.execute(
            """INSERT INTO outcomes
            SELECT o.decision_id, o.defaulted, o.observed_at, ?, ?
            FROM offered o ANTI JOIN outcomes s USING (decision_id)
            WHERE o.defaulted = o.other""",
            [str(path), now],
        )
        if known_ids is not None:
            result.unknown = [
                row[0]
                for row in connection.execute(
                    f"""SELECT decision_id FROM offered
                        ANTI JOIN ({known_ids}) k USING (decision_id) ORDER BY decision_id"""
                ).fetchall()
            ]
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    return result


def _count(connection: duckdb.DuckDBPyConnection, query: str) -> int:
    row = connection.execute(query).fetchone()
    return int(row[0]) if row else 0
