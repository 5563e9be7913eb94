"""The sinks: whole lines through a pipe, cut at line ends within PIPE_BUF; a new record
file's name made durable (its directory fsynced) when fsync is on."""

from __future__ import annotations

import errno
import json
import os
import select
import subprocess
import sys
from pathlib import Path

import pytest

from credit_risk.records.sinks import DirectorySink, _line_chunks
from tests.support.records import padded_line
from tests.support.servers import ROOT


def test_stdout_sink_writes_whole_lines_through_a_pipe() -> None:
    # Another process's standard output, as a log collector would read it.
    script = (
        "from credit_risk.records import RecordWriter\n"
        "import json\n"
        "with RecordWriter.to_stdout() as w:\n"
        "    for i in range(50):\n"
        "        w.write_lines([(json.dumps({'decision_id': f'd{i}', 'p': 'x' * 900}) + '\\n')"
        ".encode()] * 10)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, timeout=60, check=True
    )
    lines = result.stdout.splitlines()
    assert len(lines) == 500 and all(json.loads(line)["decision_id"] for line in lines)


def test_pipe_chunks_are_cut_at_line_ends_within_pipe_buf() -> None:
    lines = [padded_line(str(i), pad=i * 37 % 1500) for i in range(200)] + [
        padded_line("big", pad=9000)
    ]
    data = b"".join(lines)
    chunks = _line_chunks(data, select.PIPE_BUF)
    assert b"".join(chunks) == data
    assert all(chunk.endswith(b"\n") for chunk in chunks)
    assert all(len(chunk) <= select.PIPE_BUF or chunk.count(b"\n") == 1 for chunk in chunks)


def _fsync_spy(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The paths ``os.fsync`` is called on, in order; each call still goes to the real one."""
    synced: list[Path] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append(Path(os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return synced


@pytest.mark.parametrize("fsync", [True, False])
def test_a_new_record_file_has_its_directory_entry_fsynced_when_fsync_is_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fsync: bool
) -> None:
    synced = _fsync_spy(monkeypatch)
    sink = DirectorySink(tmp_path, fsync=fsync, rotate_bytes=4096)
    line = padded_line("a", pad=3000)
    sink.write(line)
    first = sink.current_path
    sink.write(line)  # rotates: a second new file
    second = sink.current_path
    sink.close()
    assert first is not None and second is not None and first != second
    directory = tmp_path / "decisions"
    if fsync:
        # Each new file's name made durable once, before its first group is acknowledged.
        assert synced.count(directory) == 2
        assert synced.index(directory) < synced.index(first)
        assert synced.index(first) < len(synced) - 1 - synced[::-1].index(directory)
    else:
        assert synced == []


def test_the_directory_fsync_failing_refuses_the_group(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        if Path(os.readlink(f"/proc/self/fd/{fd}")).is_dir():
            raise OSError(errno.EIO, "Input/output error")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    sink = DirectorySink(tmp_path, fsync=True)
    with pytest.raises(OSError, match="Input/output"):
        sink.write(padded_line("a"))
    assert sink.current_path is None
