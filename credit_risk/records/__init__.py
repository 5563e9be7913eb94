"""Decision records: the audit trail, written so that no decision leaves without its record.

Public API (stable; the API workers and the batch scorer both use it)::

    from credit_risk.records import (
        RecordWriter, RecordsUnavailable, RecordsDirectoryError,
        decision_lines, decision_record, open_writer, check_directory,
        read_records, record_files, iter_records, ReadStats,
    )

    # applications: dicts of the 13 fields (application_rows); decisions: JSON forms
    lines = decision_lines(applications, decisions, endpoint="score.py", latency_ms=1.2)
    with RecordWriter.to_directory(monitoring_dir, fsync=False) as writer:  # or .to_stdout()
        writer.write_lines(lines)    # blocks until written; raises RecordsUnavailable if not
    await writer.commit(lines)       # the same, on an event loop (the service)
    writer.writable                  # False while records cannot be written (/readyz)
    read_records(monitoring_dir)     # .records (dicts), .skipped (torn or foreign lines)
    stats = ReadStats()              # or stream them, one model's, from a time on:
    for record in iter_records(record_files(volume), stats, model_tag=tag, since=moment): ...

* ``decision_lines`` / ``decision_record``: the contract's JSON line per decision
  (``format.py``); files are ``<monitoring_dir>/decisions/<host>-<pid>-<start>-<seq>.jsonl``.
* ``RecordWriter``: group commit on one thread per process (``writer.py``); whole lines,
  one ``os.write`` per group to an ``O_APPEND`` file (``sinks.py``), ``fsync`` per group on
  request, rotation by size, or standard output. A group (a batch) is written whole or
  not at all; after a crash a file can end with at most one partial line.
* ``read_records`` / ``iter_records`` / ``record_files``: the one reader (``reader.py``):
  every ``*.jsonl`` under a monitoring dir or a volume of pod folders; a torn last line
  or a foreign line is skipped and counted in ``ReadStats``, which the drift report
  and the rollback script (``deploy/kubernetes/models_in_records.py``) print.
* ``RecordsUnavailable``: raised by ``commit``/``write_lines`` when the lines were not
  written (``required=True``, the default); its message is what the API answers with 503.
  With ``required=False`` nothing is raised, and the loss is counted and logged.
* ``RecordsDirectoryError``: at start, the directory is unusable; the message names the
  path and the setting.
* Metrics (``health.py``): ``credit_decision_records_written_total``,
  ``credit_decision_records_failed_total{outcome}``, ``credit_decision_records_writable``.
"""

from credit_risk.records.format import (
    RECORDS_SUBDIR,
    application_rows,
    decision_lines,
    decision_record,
    record_line,
    utc_timestamp,
)
from credit_risk.records.reader import (
    ReadStats,
    RecordsRead,
    iter_records,
    parse_time,
    read_records,
    record_files,
)
from credit_risk.records.sinks import DEFAULT_ROTATE_BYTES
from credit_risk.records.writer import (
    SUSPENDED,
    RecordsDirectoryError,
    RecordsUnavailable,
    RecordWriter,
    check_directory,
    open_writer,
)

__all__ = [
    "DEFAULT_ROTATE_BYTES",
    "RECORDS_SUBDIR",
    "SUSPENDED",
    "ReadStats",
    "RecordWriter",
    "RecordsDirectoryError",
    "RecordsRead",
    "RecordsUnavailable",
    "application_rows",
    "check_directory",
    "decision_lines",
    "decision_record",
    "iter_records",
    "open_writer",
    "parse_time",
    "read_records",
    "record_files",
    "record_line",
    "utc_timestamp",
]
