"""Where record lines go: files in a directory, or standard output. Raw ``os.write`` only.

A sink writes a group of whole lines or raises ``OSError``; it never leaves a
torn line in the middle of a file. A file sink writes each group with one
``os.write`` to an ``O_APPEND`` descriptor of a file only this process writes;
after a failed write it truncates the file back to its last whole group, and
if even that fails it abandons the file, so that a torn group can only ever
be a file's last line. Before each group it checks that the directory is
still the one it opened and the file still linked, so a directory that was
removed, replaced or renamed away is noticed, not written into blindly.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import os
import select
import socket
import stat
from pathlib import Path
from typing import Final, Protocol

from credit_risk.records.format import RECORD_SUFFIX, RECORDS_SUBDIR

DEFAULT_ROTATE_BYTES: Final = 128 * 1024 * 1024
"""A new file once the current one would pass this size."""

FILE_MODE: Final = 0o640
"""Records hold applicants' data: readable by the owner and its group only."""

PROBE_BYTES: Final = 4096
"""What a probe writes (then deletes): room for a few records, one page."""

PIPE_BUF: Final = select.PIPE_BUF
"""Writes up to this size to a pipe are atomic (POSIX): other processes writing to the
same pipe, several workers sharing standard output, cannot interleave inside one."""


class Sink(Protocol):
    """A destination for groups of whole record lines."""

    destination: str
    """Where records go, for log lines: a directory path, or ``stdout``."""

    may_block: bool
    """Whether a write can take long (an fsync, a pipe whose reader is slow): such
    writes belong on the writer's thread, not on an event loop."""

    def write(self, data: bytes) -> None:
        """Write ``data`` (whole lines) completely, or raise ``OSError`` having written none."""

    def probe(self, size: int = PROBE_BYTES) -> None:
        """Check, without writing a record, that ``size`` bytes could be written now."""

    def close(self) -> None:
        """Release the destination; a later ``write`` opens it again."""


class DirectorySink:
    """Record files ``<monitoring_dir>/decisions/<host>-<pid>-<start>-<seq>.jsonl``."""

    def __init__(
        self, monitoring_dir: str | Path, *, rotate_bytes: int = DEFAULT_ROTATE_BYTES, fsync: bool
    ) -> None:
        """Write under ``monitoring_dir`` (which must exist); ``decisions/`` is made if missing."""
        self.monitoring_dir = Path(monitoring_dir).absolute()
        self.directory = self.monitoring_dir / RECORDS_SUBDIR
        self.destination = str(self.directory)
        self.rotate_bytes = rotate_bytes
        self.fsync = fsync
        # Without fsync a write is a copy into the page cache: a few microseconds.
        self.may_block = fsync
        self._fd: int | None = None
        self._directory_id: tuple[int, int] | None = None
        self._size = 0
        self._sequence = 0
        self._pid = os.getpid()
        self._started = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        self._host = socket.gethostname().replace("/", "_") or "host"

    @property
    def current_path(self) -> Path | None:
        """The file being written, if one is open."""
        if self._fd is None:
            return None
        return self.directory / self._name(self._sequence)

    def write(self, data: bytes) -> None:
        """Append ``data`` in one write (rotating first if it would pass the size limit)."""
        fd = self._open_for(len(data))
        offset = self._size
        try:
            _write_all(fd, data)
            if self.fsync:
                os.fsync(fd)
        except OSError:
            self._undo(fd, offset)
            raise
        self._size = offset + len(data)

    def probe(self, size: int = PROBE_BYTES) -> None:
        """Check the directory (made again if only ``decisions/`` is missing) and write, then
        delete, a probe file of ``size`` bytes; the next ``write`` reopens the record file if
        needed."""
        self._directory_stat()
        probe = self.directory / f".probe-{os.getpid()}"
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, FILE_MODE)
        try:
            _write_all(fd, b"\n" * size)
        finally:
            os.close(fd)
            os.unlink(probe)

    def check_usable(self) -> None:
        """The directory exists (``decisions/`` made if missing) and takes a new, empty file."""
        self._directory_stat()
        probe = self.directory / f".probe-{os.getpid()}"
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, FILE_MODE))
        os.unlink(probe)

    def close(self) -> None:
        """Close the current file; the next write opens the next one in the sequence."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            try:
                if self.fsync:
                    os.fsync(fd)
            finally:
                os.close(fd)

    def _open_for(self, size: int) -> int:
        if os.getpid() != self._pid:  # forked: this file belongs to the parent
            self._fd, self._pid, self._sequence = None, os.getpid(), 0
        directory = self._directory_stat()
        if self._fd is not None:
            moved = (directory.st_dev, directory.st_ino) != self._directory_id
            if moved or os.fstat(self._fd).st_nlink == 0:
                self.close_quietly()  # the file is no longer where readers look
            elif self._size > 0 and self._size + size > self.rotate_bytes:
                self.close()  # rotate; a group larger than the limit still goes whole
        if self._fd is None:
            flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
            while self._fd is None:
                self._sequence += 1
                path = self.directory / self._name(self._sequence)
                # Taken by another sink of this process started in the same second (a
                # job run twice): the next number, never a file that is not ours.
                with contextlib.suppress(FileExistsError):
                    self._fd = os.open(path, flags, FILE_MODE)
            self._directory_id = (directory.st_dev, directory.st_ino)
            self._size = 0
            if self.fsync:
                # The file's fsync does not make its name durable: without the
                # directory's, a machine crash could lose a whole fsynced file.
                try:
                    fsync_path(self.directory)
                except OSError:
                    self.close_quietly()
                    raise
        return self._fd

    def _directory_stat(self) -> os.stat_result:
        try:
            found = os.stat(self.directory)
        except FileNotFoundError:
            # decisions/ itself may be made again (someone cleared it); the
            # monitoring directory may not: it may be an unmounted volume.
            if not self.monitoring_dir.is_dir():
                raise
            os.mkdir(self.directory)
            found = os.stat(self.directory)
        if not stat.S_ISDIR(found.st_mode):
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(self.directory))
        return found

    def _undo(self, fd: int, offset: int) -> None:
        # Part of the group may be in the file: cut it off so that the next
        # group starts on a line of its own; if that fails too, leave the
        # file for good, its torn group then being its last line.
        try:
            os.ftruncate(fd, offset)
        except OSError:
            self.close_quietly()
            return
        if self.fsync:
            # After a failed fsync the kernel may have dropped the dirty pages
            # and forgotten the error: nothing about this file can be trusted.
            self.close_quietly()

    def close_quietly(self) -> None:
        """Close the current file, ignoring errors (it is being abandoned)."""
        try:
            self.close()
        except OSError:
            self._fd = None

    def _name(self, sequence: int) -> str:
        return f"{self._host}-{self._pid}-{self._started}-{sequence:06d}{RECORD_SUFFIX}"


class StdoutSink:
    """Records on standard output (fd 1), for a log collector: containers, Lambda."""

    destination = "stdout"
    may_block = True

    def __init__(self, *, fsync: bool = False, fd: int = 1) -> None:
        """Write to ``fd`` (standard output unless told otherwise)."""
        self.fd = fd
        self.fsync = fsync
        self._failed = False

    def write(self, data: bytes) -> None:
        """Write whole lines; to a pipe in chunks of at most ``PIPE_BUF`` bytes, cut at lines."""
        try:
            mode = os.fstat(self.fd).st_mode
            if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
                for chunk in _line_chunks(data, PIPE_BUF):
                    _write_all(self.fd, chunk)
            else:
                _write_all(self.fd, data)
                if self.fsync and stat.S_ISREG(mode):
                    os.fsync(self.fd)
        except OSError:
            self._failed = True
            raise
        self._failed = False

    def probe(self, size: int = PROBE_BYTES) -> None:
        """Standard output is open and, after a failed write, takes an empty line.

        Only a write can tell (a pipe whose reader is gone fails only when written
        to), and an empty line is the least a log collector can be sent.
        """
        os.fstat(self.fd)
        if self._failed:
            _write_all(self.fd, b"\n")
            self._failed = False

    def close(self) -> None:
        """Nothing to release: standard output belongs to the process."""


def fsync_path(path: str | Path) -> None:
    """Flush a file's data, or a directory's entries (a new file's name), to the disk."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        if written == 0:
            raise OSError(errno.EIO, "write wrote nothing")
        view = view[written:]


def _line_chunks(data: bytes, limit: int) -> list[bytes]:
    """``data`` cut at line ends into chunks of at most ``limit`` bytes where lines allow."""
    chunks: list[bytes] = []
    start = 0
    while start < len(data):
        if len(data) - start <= limit:
            chunks.append(data[start:])
            break
        cut = data.rfind(b"\n", start, start + limit)
        if cut < start:  # one line longer than the limit: alone, whole
            cut = data.find(b"\n", start + limit)
            cut = len(data) - 1 if cut < 0 else cut
        chunks.append(data[start : cut + 1])
        start = cut + 1
    return chunks
