"""Outcomes in: idempotent loads, conflicts, unknown ids; records read with DuckDB."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pytest

from credit_risk.outcomes.join import JOINED, create_decisions
from credit_risk.outcomes.store import OutcomeFileError, connect, load_outcomes
from tests.unit.outcomes.written import record_bytes, write_outcomes, write_records

KNOWN = "SELECT decision_id FROM decisions"
WHEN = "2027-01-01T00:00:00Z"


def _store(tmp_path: Path, count: int = 5) -> tuple[duckdb.DuckDBPyConnection, list[str]]:
    ids = write_records(tmp_path / "decisions" / "w.jsonl", np.linspace(0.05, 0.9, count))
    connection = connect(tmp_path)
    create_decisions(connection, tmp_path)
    return connection, ids


def _stored(connection: duckdb.DuckDBPyConnection) -> dict[str, bool]:
    return dict(connection.execute("SELECT decision_id, defaulted FROM outcomes").fetchall())


def test_a_file_loaded_twice_counts_once(tmp_path: Path) -> None:
    connection, ids = _store(tmp_path)
    path = write_outcomes(tmp_path / "o.csv", [(i, n % 2, WHEN) for n, i in enumerate(ids)])
    first = load_outcomes(connection, path, KNOWN)
    second = load_outcomes(connection, path, KNOWN)
    assert (first.rows, first.new, first.already_known) == (5, 5, 0)
    assert (second.rows, second.new, second.already_known) == (5, 0, 5)
    assert second.conflicts == [] and second.unknown == []
    assert _stored(connection) == {i: bool(n % 2) for n, i in enumerate(ids)}
    assert connection.execute(f"SELECT count(*) FROM ({JOINED})").fetchone() == (5,)


def test_a_conflicting_outcome_is_reported_and_never_overwrites(tmp_path: Path) -> None:
    connection, ids = _store(tmp_path)
    load_outcomes(connection, write_outcomes(tmp_path / "a.csv", [(ids[0], 0, WHEN)]), KNOWN)
    later = write_outcomes(
        tmp_path / "b.csv", [(ids[0], 1, WHEN), (ids[1], 1, WHEN), (ids[1], 0, WHEN)]
    )
    result = load_outcomes(connection, later, KNOWN)
    assert sorted(result.conflicts) == [(ids[0], False, True), (ids[1], None, True)]
    assert result.new == 0
    assert _stored(connection) == {ids[0]: False}
    assert connection.execute("SELECT count(DISTINCT decision_id) FROM conflicts").fetchone() == (
        2,
    )


def test_unknown_ids_and_invalid_rows_are_counted(tmp_path: Path) -> None:
    connection, ids = _store(tmp_path)
    path = write_outcomes(
        tmp_path / "o.csv",
        [
            (ids[0], 1, WHEN),
            ("nobody-1", 0, WHEN),
            ("nobody-2", 1, ""),  # no time: allowed
            ("", 1, WHEN),
            (ids[1], 2, WHEN),
            (ids[2], "yes", WHEN),
            (ids[3], 0, "last tuesday"),
        ],
    )
    result = load_outcomes(connection, path, KNOWN)
    assert (result.rows, result.invalid, result.new) == (7, 4, 3)
    assert result.unknown == ["nobody-1", "nobody-2"]


def test_parquet_files_load_and_a_file_without_the_columns_is_refused(tmp_path: Path) -> None:
    connection, ids = _store(tmp_path)
    parquet = tmp_path / "o.parquet"
    connection.execute(
        f"COPY (SELECT '{ids[0]}' AS decision_id, 1 AS defaulted, "
        f"TIMESTAMPTZ '{WHEN}' AS observed_at) TO '{parquet}' (FORMAT parquet)"
    )
    assert load_outcomes(connection, parquet, KNOWN).new == 1
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("id,default\nx,1\n")
    with pytest.raises(OutcomeFileError, match="decision_id, defaulted, observed_at"):
        load_outcomes(connection, wrong, KNOWN)
    with pytest.raises(OutcomeFileError, match="no such file"):
        load_outcomes(connection, tmp_path / "absent.csv", KNOWN)
    assert _stored(connection) == {ids[0]: True}


def test_torn_lines_garbage_and_duplicates_are_skipped(tmp_path: Path) -> None:
    folder = tmp_path / "decisions"
    ids = write_records(folder / "a.jsonl", np.array([0.1, 0.2, 0.3]))
    # A retried batch task wrote the same decisions again, in another file.
    write_records(folder / "b.jsonl", np.array([0.1, 0.2]))
    with (folder / "a.jsonl").open("ab") as stream:
        stream.write(b'not json\n[1, 2]\n{"no_id": 1}\n')
        # A whole record but without its newline: partial by the contract.
        stream.write(record_bytes("cut-1", 0.4, time="2026-01-01T00:00:00Z").rstrip(b"\n"))
    with (folder / "c.jsonl").open("ab") as stream:
        stream.write(record_bytes("whole", 0.5, time="2026-01-01T00:00:00Z"))
        stream.write(record_bytes("cut-2", 0.5, time="2026-01-01T00:00:00Z")[:40])
    connection = duckdb.connect()
    scan = create_decisions(connection, tmp_path)
    assert scan.as_dict() == {
        "files": 3,
        "rows": 6,
        "decisions": 4,
        "duplicates": 2,
        "partial": 2,
    }
    found = {row[0] for row in connection.execute("SELECT decision_id FROM decisions").fetchall()}
    assert found == {*ids, "whole"}


def test_no_record_files_make_an_empty_table(tmp_path: Path) -> None:
    connection = duckdb.connect()
    assert create_decisions(connection, tmp_path / "absent").decisions == 0
    assert connection.execute("SELECT count(*) FROM decisions").fetchone() == (0,)
