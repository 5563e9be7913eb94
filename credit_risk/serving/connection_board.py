"""The API workers' open connections, on a board in shared memory that each can read.

``bentoml serve`` starts its API workers as children of one circus arbiter, and hands
each the same listening socket. Each worker owns one slot of a small file-backed memory
map named after that socket (its inode) and the arbiter's pid, so that the workers of one
server, and only they, share a board: a slot holds the worker's pid and its number of
open connections. ``balanced_accept`` reads the others' slots before accepting.

Slots of workers that died are ignored (their pid is gone); the last worker to leave
removes the file. Counts are 8-byte aligned words, written and read whole.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import tempfile
from pathlib import Path
from typing import Final

MAX_SLOTS: Final = 64
"""Workers a board can hold; a worker with a higher index does not take part."""

_WORDS_PER_SLOT: Final = 2
"""A slot: the worker's pid, then its open connections."""

_BOARD_BYTES: Final = MAX_SLOTS * _WORDS_PER_SLOT * 8

SHARED_MEMORY_DIR: Final = Path("/dev/shm")
"""Where boards go when it exists (memory, never written to disk); else the temp dir."""


def board_path(listener_fd: int, directory: Path | None = None) -> Path:
    """The board's file for the listening socket ``listener_fd`` of this process's server:
    the same in every worker the parent handed that socket to."""
    if directory is None:
        usable = SHARED_MEMORY_DIR.is_dir() and os.access(SHARED_MEMORY_DIR, os.W_OK)
        directory = SHARED_MEMORY_DIR if usable else Path(tempfile.gettempdir())
    inode = os.fstat(listener_fd).st_ino
    return directory / f"credit-risk-connections-{os.getppid()}-{inode}"


class ConnectionBoard:
    """One worker's view of the board: its own slot to write, the others' to read."""

    def __init__(self, path: Path, slot: int) -> None:
        """Open (or create) the board at ``path`` and take ``slot`` (0-based) for this process."""
        if not 0 <= slot < MAX_SLOTS:
            raise ValueError(f"slot must be in [0, {MAX_SLOTS}), not {slot}")
        self.path = path
        self._slot = slot
        self._pid = os.getpid()
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if os.fstat(fd).st_size < _BOARD_BYTES:
                # Every worker may get here first; growing to the same size twice is harmless
                # and the new bytes are zeros: empty slots.
                os.ftruncate(fd, _BOARD_BYTES)
            self._map = mmap.mmap(fd, _BOARD_BYTES)
        finally:
            os.close(fd)
        self._words = memoryview(self._map).cast("q")
        self.publish(0)

    def publish(self, connections: int) -> None:
        """Write this worker's number of open connections (and its pid, claiming the slot)."""
        base = self._slot * _WORDS_PER_SLOT
        self._words[base] = self._pid
        self._words[base + 1] = connections

    def fewest_elsewhere(self) -> int | None:
        """The fewest open connections any other live worker holds; ``None`` when no other
        worker is on the board."""
        fewest: int | None = None
        for slot in range(MAX_SLOTS):
            if slot == self._slot:
                continue
            pid = self._words[slot * _WORDS_PER_SLOT]
            if pid == 0 or not _alive(pid):
                continue
            connections = self._words[slot * _WORDS_PER_SLOT + 1]
            if fewest is None or connections < fewest:
                fewest = connections
        return fewest

    def close(self) -> None:
        """Leave the board; the last worker on it removes its file."""
        base = self._slot * _WORDS_PER_SLOT
        if self._words[base] == self._pid:
            self._words[base] = 0
            self._words[base + 1] = 0
        others = any(
            self._words[slot * _WORDS_PER_SLOT] and _alive(self._words[slot * _WORDS_PER_SLOT])
            for slot in range(MAX_SLOTS)
        )
        self._words.release()
        self._map.close()
        if not others:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: not ours, but the pid is taken
    return True
