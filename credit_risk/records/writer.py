"""Decisions released once their records are written: in place, or by group commit.

Callers hand over whole lines and wait: ``await writer.commit(lines)`` on an
event loop (the API), ``writer.write_lines(lines)`` anywhere else (the batch
scorer). A caller is released with success only once its lines were handed to
the operating system (and, with ``fsync``, to the disk), so a decision can be
answered only once its record survives a crash of the process (of the machine,
with ``fsync``). A batch is one group: written whole, or refused whole.

How depends on the sink and the group. A small group (``IN_PLACE_LINES``) to a
sink whose writes cannot block for long (a file without fsync: a copy into the
page cache, about 5 µs) is written in place, by the caller, under a lock: a
hand-over to a thread and back cost 100 µs a record on an event loop
(``benchmarks/records_cost.py``). Anything else (an fsync, a pipe, a batch's
700 kB, whose copy the event loop need not wait for) goes to the writer thread,
which takes every group waiting, writes them all with one write, then releases
every caller (on an event loop through ``call_soon_threadsafe``): group commit,
one fsync for many decisions.

While records cannot be written, every group is still attempted (a group
that fits is written and answered). The state, which ``/readyz`` reports,
changes on a failed write, or on a probe (a file as large as the failed group,
at least a page, written and deleted): every ``PROBE_INTERVAL_S`` while
suspended, however busy, and after as long idle while writable. So the
writer notices a full or replaced directory without traffic, recovers by
itself once the cause is gone, and does not flap on a nearly full disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal, Self

from credit_risk.records.health import RecordsHealth
from credit_risk.records.sinks import (
    DEFAULT_ROTATE_BYTES,
    PROBE_BYTES,
    DirectorySink,
    Sink,
    StdoutSink,
)

logger = logging.getLogger("credit_risk.records")

PROBE_INTERVAL_S: Final = 1.0
"""How long the writer goes, idle or suspended, before it checks whether records can be written."""

MAX_PROBE_BYTES: Final = 1024 * 1024
"""A probe after a failed group writes as much as that group, up to this."""

IN_PLACE_LINES: Final = 64
"""Groups of at most this many lines (about 45 kB) may be written in place."""

SUSPENDED: Final = "Decisions are suspended: the audit trail cannot be written"


class RecordsUnavailable(Exception):  # noqa: N818 - a state, as the API reports it
    """Records could not be written, so the decisions they record must not be answered."""

    def __init__(self, reason: str) -> None:
        """``reason``: the operating system's words, e.g. ``No space left on device``."""
        super().__init__(f"{SUSPENDED} ({reason})")
        self.reason = reason


class RecordsDirectoryError(Exception):
    """The records directory is unusable at start: its message names the path and the setting."""


Done = Callable[[OSError | None], None]


@dataclass(frozen=True)
class _Group:
    lines: Sequence[bytes]
    done: Done


class RecordWriter:
    """Writes decision records with group commit; see the module docstring."""

    def __init__(self, sink: Sink, *, required: bool = True) -> None:
        """Write to ``sink``; ``required=False`` answers decisions even when records fail."""
        self.sink = sink
        self.required = required
        self.health = RecordsHealth(sink.destination, required=required)
        self._pending: list[_Group] = []
        self._in_place = not sink.may_block
        self._sink_lock = threading.Lock()  # the sink is written by callers and the thread
        self._wake = threading.Condition()
        self._closed = False
        self._idle = False  # the thread waits for work: a submit must wake it
        self._checked_at = time.monotonic()  # last write, failure or probe that told the state
        self._probe_bytes = PROBE_BYTES
        self._thread = threading.Thread(target=self._run, name="decision-records", daemon=True)
        self._thread.start()

    @classmethod
    def to_directory(
        cls,
        monitoring_dir: str | Path,
        *,
        fsync: bool = False,
        rotate_bytes: int = DEFAULT_ROTATE_BYTES,
        required: bool = True,
        check: bool = True,
    ) -> Self:
        """Records in ``<monitoring_dir>/decisions/``; checks the directory first.

        ``check=False`` skips that (a server's workers: the process that started
        them checked, and a worker must not crash over what it will report).

        Raises:
            RecordsDirectoryError: the directory cannot be made or written.
        """
        if check:
            check_directory(monitoring_dir)
        return cls(
            DirectorySink(monitoring_dir, rotate_bytes=rotate_bytes, fsync=fsync), required=required
        )

    @classmethod
    def to_stdout(cls, *, fsync: bool = False, required: bool = True) -> Self:
        """Records as JSON lines on standard output, for a log collector."""
        return cls(StdoutSink(fsync=fsync), required=required)

    @property
    def writable(self) -> bool:
        """Whether the last write or probe succeeded: what ``/readyz`` reports."""
        return self.health.writable

    async def commit(self, lines: Sequence[bytes]) -> None:
        """Wait, without blocking the event loop, until ``lines`` are written.

        Raises:
            RecordsUnavailable: they could not be written (unless ``required`` is off).
        """
        if self._written_in_place(lines):
            return
        loop = asyncio.get_running_loop()
        future: asyncio.Future[OSError | None] = loop.create_future()
        self._submit(_Group(lines, _release_on(loop, future)))
        self._check(await future)

    def write_lines(self, lines: Sequence[bytes]) -> None:
        """Block until ``lines`` are written, with the same guarantees as ``commit``.

        Not to be called from an event loop (use ``commit``) nor from the writer thread.

        Raises:
            RecordsUnavailable: they could not be written (unless ``required`` is off).
        """
        if self._written_in_place(lines):
            return
        written = threading.Event()
        outcome: list[OSError | None] = []

        def done(error: OSError | None) -> None:
            outcome.append(error)
            written.set()

        self._submit(_Group(lines, done))
        written.wait()
        self._check(outcome[0])

    def _written_in_place(self, lines: Sequence[bytes]) -> bool:
        """Whether nothing is left for the thread: no lines, or a small group written here."""
        if not lines:
            return True
        if not self._in_place or len(lines) > IN_PLACE_LINES:
            return False
        self._check(self._write(lines, in_place=True))
        return True

    def close(self, timeout: float = 30) -> None:
        """Write what is waiting, then stop the thread and close the file."""
        with self._wake:
            self._closed = True
            self._idle = False
            self._wake.notify()
        self._thread.join(timeout)

    def __enter__(self) -> Self:
        """The writer itself; ``close`` on exit."""
        return self

    def __exit__(self, *_: object) -> None:
        """Close the writer."""
        self.close()

    def _submit(self, group: _Group) -> None:
        with self._wake:
            if self._closed or not self._thread.is_alive():
                raise RecordsUnavailable("the records writer is closed")
            self._pending.append(group)
            # Only a waiting thread needs waking: a busy one looks for more
            # before it waits. Under load that saves a notify, and a thread
            # switch, per request (5% of the event loop's time in py-spy).
            if self._idle:
                self._idle = False
                self._wake.notify()

    def _check(self, error: OSError | None) -> None:
        if error is not None and self.required:
            raise RecordsUnavailable(error.strerror or str(error))

    def _run(self) -> None:
        while True:
            with self._wake:
                if not self._pending and not self._closed:
                    self._idle = True
                    self._wake.wait(PROBE_INTERVAL_S)
                    self._idle = False
                groups, self._pending = self._pending, []
                closing = self._closed
            if groups:
                self._commit(groups)
            elif closing:
                self._close_sink()
                return
            # Idle a while, or suspended a while (however busy): find out whether
            # records can be written, so that /readyz tells the truth in a worker
            # no request reaches, and a suspended writer recovers by itself.
            due = time.monotonic() - self._checked_at >= PROBE_INTERVAL_S
            if due and (not groups or not self.health.writable):
                self._probe()

    def _commit(self, groups: list[_Group]) -> None:
        error = self._write([line for group in groups for line in group.lines])
        for group in groups:
            group.done(error)

    def _write(self, lines: Sequence[bytes], *, in_place: bool = False) -> OSError | None:
        """Write one group (or several, joined); the error, if it was not written.

        Raises:
            RecordsUnavailable: ``in_place``, after ``close``.
        """
        data = b"".join(lines)
        error: OSError | None = None
        with self._sink_lock:
            if in_place and self._closed:
                raise RecordsUnavailable("the records writer is closed")
            try:
                self.sink.write(data)
            except OSError as failure:
                error = failure
            except Exception as bug:  # every waiter must be released, whatever happened
                logger.exception("Decision records writer failed")
                error = OSError(errno.EIO, f"records writer error: {bug!r}")
            self._account(error, len(lines), len(data))
        return error

    def _account(self, error: OSError | None, lines: int, size: int) -> None:
        if error is None:
            self.health.written(lines)
            # While suspended, a group that happened to fit (a small one, where a
            # larger one did not) is answered but does not end the suspension:
            # only the probe does, so that a nearly full disk does not flap.
            if self.health.writable:
                self._checked_at = time.monotonic()
        else:
            self.health.failed(error, lines)
            self._checked_at = time.monotonic()
            # Recovery means room for at least what failed (up to a limit).
            self._probe_bytes = min(max(PROBE_BYTES, size), MAX_PROBE_BYTES)

    def _probe(self) -> None:
        with self._sink_lock:
            self._checked_at = time.monotonic()
            try:
                self.sink.probe(self._probe_bytes)
            except OSError as error:
                self.health.unwritable(error)
            except Exception as bug:  # the thread must outlive any bug: callers wait on it
                logger.exception("Probing the decision records failed")
                self.health.unwritable(OSError(errno.EIO, f"records probe error: {bug!r}"))
            else:
                self._probe_bytes = PROBE_BYTES
                self.health.recovered()

    def _close_sink(self) -> None:
        try:
            with self._sink_lock:
                self.sink.close()
        except OSError as error:
            logger.error(
                "Closing the decision records at %s failed: %s", self.sink.destination, error
            )


def _release_on(loop: asyncio.AbstractEventLoop, future: asyncio.Future[OSError | None]) -> Done:
    def settle(error: OSError | None) -> None:
        if not future.done():  # the request may have been cancelled meanwhile
            future.set_result(error)

    def done(error: OSError | None) -> None:
        # A closed loop (RuntimeError) has nobody waiting any more.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(settle, error)

    return done


def check_directory(monitoring_dir: str | Path) -> Path:
    """Make ``<monitoring_dir>/decisions/`` if needed and prove files can be made there.

    A full disk passes: that is a state the running service reports (503, not
    ready) and recovers from, not a configuration error to stop for.

    Raises:
        RecordsDirectoryError: naming the path, the error and the setting to change.
    """
    sink = DirectorySink(monitoring_dir, fsync=False)
    try:
        sink.monitoring_dir.mkdir(parents=True, exist_ok=True)
        sink.check_usable()
    except OSError as error:
        raise RecordsDirectoryError(
            f"Decision records cannot be written to {sink.directory}: "
            f"{error.strerror or error}. Set CREDIT_RISK_MONITORING_DIR to a writable "
            "directory (or CREDIT_RISK_RECORDS_SINK=stdout)."
        ) from error
    return sink.directory


SinkKind = Literal["file", "stdout"]


def open_writer(
    *,
    sink: SinkKind,
    monitoring_dir: str | Path,
    fsync: bool,
    rotate_bytes: int,
    required: bool,
    check: bool = True,
) -> RecordWriter:
    """The writer that the ``CREDIT_RISK_RECORDS_*`` and ``_MONITORING_DIR`` settings describe."""
    if sink == "stdout":
        return RecordWriter.to_stdout(fsync=fsync, required=required)
    return RecordWriter.to_directory(
        monitoring_dir, fsync=fsync, rotate_bytes=rotate_bytes, required=required, check=check
    )
