"""Group commit: one writer thread per process, decisions released once their records are written.

Callers hand over whole lines and wait: ``await writer.commit(lines)`` on an
event loop (the API), ``writer.write_lines(lines)`` anywhere else (the batch
scorer). The writer thread takes every group waiting, writes them all with
one write, then releases every caller (on an event loop through
``call_soon_threadsafe``). A caller is released with success only once its
lines were handed to the operating system (and, with ``fsync``, to the disk),
so a decision can be answered only once its record survives a crash of the
process (of the machine, with ``fsync``). A batch is one group: written
whole, or refused whole.

While records cannot be written, every group is still attempted (the next
write is the re-probe) and, with no traffic, the thread probes the
destination every ``PROBE_INTERVAL_S``, so the writer recovers by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal, Self

from credit_risk.records.health import RecordsHealth
from credit_risk.records.sinks import DEFAULT_ROTATE_BYTES, DirectorySink, Sink, StdoutSink

logger = logging.getLogger("credit_risk.records")

PROBE_INTERVAL_S: Final = 1.0
"""How often an idle writer whose records cannot be written checks whether they can again."""

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
        self._wake = threading.Condition()
        self._closed = False
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
    ) -> Self:
        """Records in ``<monitoring_dir>/decisions/``; checks the directory first.

        Raises:
            RecordsDirectoryError: the directory cannot be made or written.
        """
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
        if not lines:
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
        if not lines:
            return
        written = threading.Event()
        outcome: list[OSError | None] = []

        def done(error: OSError | None) -> None:
            outcome.append(error)
            written.set()

        self._submit(_Group(lines, done))
        written.wait()
        self._check(outcome[0])

    def close(self, timeout: float = 30) -> None:
        """Write what is waiting, then stop the thread and close the file."""
        with self._wake:
            self._closed = True
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
            if self._closed:
                raise RecordsUnavailable("the records writer is closed")
            self._pending.append(group)
            self._wake.notify()

    def _check(self, error: OSError | None) -> None:
        if error is not None and self.required:
            raise RecordsUnavailable(error.strerror or str(error))

    def _run(self) -> None:
        while True:
            with self._wake:
                if not self._pending and not self._closed:
                    self._wake.wait(None if self.health.writable else PROBE_INTERVAL_S)
                groups, self._pending = self._pending, []
                closing = self._closed
            if groups:
                self._commit(groups)
            elif closing:
                self._close_sink()
                return
            elif not self.health.writable:
                self._probe()

    def _commit(self, groups: list[_Group]) -> None:
        lines = [line for group in groups for line in group.lines]
        error: OSError | None = None
        try:
            self.sink.write(b"".join(lines))
        except OSError as failure:
            error = failure
        except Exception as bug:  # every waiter must be released, whatever happened
            logger.exception("Decision records writer failed")
            error = OSError(errno.EIO, f"records writer error: {bug!r}")
        if error is None:
            self.health.written(len(lines))
        else:
            self.health.failed(error, len(lines))
        for group in groups:
            group.done(error)

    def _probe(self) -> None:
        try:
            self.sink.probe()
        except OSError as error:
            self.health.unwritable(error)
        else:
            self.health.recovered()

    def _close_sink(self) -> None:
        try:
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
    """Make ``<monitoring_dir>/decisions/`` if needed and prove it writable; returns it.

    Raises:
        RecordsDirectoryError: naming the path, the error and the setting to change.
    """
    sink = DirectorySink(monitoring_dir, fsync=False)
    try:
        sink.monitoring_dir.mkdir(parents=True, exist_ok=True)
        sink.probe()
    except OSError as error:
        raise RecordsDirectoryError(
            f"Decision records cannot be written to {sink.directory}: "
            f"{error.strerror or error}. Set CREDIT_RISK_MONITORING_DIR to a writable "
            "directory (or CREDIT_RISK_RECORDS_SINK=stdout)."
        ) from error
    finally:
        sink.close_quietly()
    return sink.directory


SinkKind = Literal["file", "stdout"]


def open_writer(
    *,
    sink: SinkKind,
    monitoring_dir: str | Path,
    fsync: bool,
    rotate_bytes: int,
    required: bool,
) -> RecordWriter:
    """The writer that the ``CREDIT_RISK_RECORDS_*`` and ``_MONITORING_DIR`` settings describe."""
    if sink == "stdout":
        return RecordWriter.to_stdout(fsync=fsync, required=required)
    return RecordWriter.to_directory(
        monitoring_dir, fsync=fsync, rotate_bytes=rotate_bytes, required=required
    )
