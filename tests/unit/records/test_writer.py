"""The records writer alone, in process: every commit written, rotation, fsync, a full or
moved directory refused and recovered from (the same rules on real servers:
``tests/e2e/test_records.py``)."""

from __future__ import annotations

import asyncio
import os
import re
import threading
import time
from pathlib import Path

import pytest

from credit_risk.records import (
    SUSPENDED,
    RecordsDirectoryError,
    RecordsUnavailable,
    RecordWriter,
    check_directory,
    read_records,
    record_files,
)
from credit_risk.records.sinks import DirectorySink
from tests.support.records import assert_only_last_lines_torn, padded_line

FILE_NAME = re.compile(r"^.+-(?P<pid>\d+)-\d{8}T\d{6}Z-(?P<seq>\d{6})\.jsonl$")


class CountingSink(DirectorySink):
    """The real directory sink, counting its writes (one per group) and their threads."""

    writes = 0
    threads: set[int]

    def write(self, data: bytes) -> None:
        """Write, and count the call."""
        self.writes += 1
        self.threads = {*getattr(self, "threads", ()), threading.get_ident()}
        super().write(data)


@pytest.mark.parametrize("fsync", [True, False], ids=["fsync", "no-fsync"])
def test_concurrent_commits_are_all_written(tmp_path: Path, fsync: bool) -> None:
    sink = CountingSink(tmp_path, fsync=fsync)
    writer = RecordWriter(sink)

    async def commit_all() -> None:
        await asyncio.gather(*(writer.commit([padded_line(f"d{i}")]) for i in range(2000)))

    asyncio.run(commit_all())
    writer.close()
    read = read_records(tmp_path)
    assert sorted(r["decision_id"] for r in read.records) == sorted(f"d{i}" for i in range(2000))
    assert read.skipped == 0
    if fsync:
        # Group commit on the writer's thread: far fewer writes (and fsyncs) than commits.
        assert sink.writes < 200, sink.writes
        assert sink.threads == {writer._thread.ident}
    else:
        # In place, by the event loop's thread: a write per commit, no hand-over.
        assert sink.writes == 2000
        assert sink.threads == {threading.get_ident()}


def test_rotation_by_size_loses_nothing_and_names_files_by_pid_and_sequence(
    tmp_path: Path,
) -> None:
    with RecordWriter.to_directory(tmp_path, rotate_bytes=4096) as writer:
        for i in range(300):
            writer.write_lines([padded_line(f"d{i}"), padded_line(f"e{i}")])
    files = record_files(tmp_path)
    assert len(files) > 10
    for path in files:
        match = FILE_NAME.match(path.name)
        assert match and int(match["pid"]) == os.getpid(), path.name
        data = path.read_bytes()
        assert data.endswith(b"\n") and len(data) <= 4096
    assert [int(FILE_NAME.match(p.name)["seq"]) for p in files] == list(range(1, len(files) + 1))  # type: ignore[index]
    ids = [r["decision_id"] for r in read_records(tmp_path).records]
    assert ids == [f"{k}{i}" for i in range(300) for k in "de"]


def test_fsync_mode_writes_the_same(tmp_path: Path) -> None:
    with RecordWriter.to_directory(tmp_path, fsync=True) as writer:
        writer.write_lines([padded_line("a"), padded_line("b")])
    assert [r["decision_id"] for r in read_records(tmp_path).records] == ["a", "b"]


def test_reader_skips_and_counts_a_torn_last_line(tmp_path: Path) -> None:
    with RecordWriter.to_directory(tmp_path) as writer:
        writer.write_lines([padded_line("a")])
    (path,) = record_files(tmp_path)
    with path.open("ab") as stream:
        stream.write(padded_line("torn")[:20])
    read = read_records(tmp_path)
    assert [r["decision_id"] for r in read.records] == ["a"] and read.skipped == 1


def test_directory_replaced_by_a_file_refuses_then_recovers_by_itself(tmp_path: Path) -> None:
    monitoring = tmp_path / "monitoring"
    writer = RecordWriter.to_directory(monitoring)
    writer.write_lines([padded_line("before")])
    moved = tmp_path / "moved"
    monitoring.rename(moved)
    monitoring.write_text("not a directory")
    with pytest.raises(RecordsUnavailable, match=re.escape(SUSPENDED)):
        writer.write_lines([padded_line("refused")])
    assert not writer.writable
    monitoring.unlink()
    moved.rename(monitoring)
    # No write needed: the idle writer probes and finds the directory back.
    deadline = time.monotonic() + 5
    while not writer.writable and time.monotonic() < deadline:
        time.sleep(0.1)
    assert writer.writable
    writer.write_lines([padded_line("after")])
    writer.close()
    assert [r["decision_id"] for r in read_records(monitoring).records] == ["before", "after"]


def test_full_tmpfs_refuses_whole_groups_and_leaves_only_whole_lines(small_tmpfs: Path) -> None:
    filler = small_tmpfs / "filler"
    filler.write_bytes(b"\0" * 200 * 1024)
    check_directory(small_tmpfs)  # a full disk is a state to report, not a reason to stop
    written: list[str] = []
    refused = 0
    with RecordWriter.to_directory(small_tmpfs) as writer:
        for i in range(400):
            group = [f"g{i}-{k}" for k in range(1 + i % 7)]
            try:
                writer.write_lines([padded_line(d, pad=300) for d in group])
                written.extend(group)
            except RecordsUnavailable as refusal:
                assert "No space left on device" in str(refusal)
                refused += 1
        assert refused > 100 and not writer.writable
        filler.unlink()
        writer.write_lines([padded_line("after")])
        deadline = time.monotonic() + 5
        while not writer.writable and time.monotonic() < deadline:
            time.sleep(0.1)
        assert writer.writable
    read = read_records(small_tmpfs)
    # Refused groups left nothing behind, not even a torn line.
    assert [r["decision_id"] for r in read.records] == [*written, "after"]
    assert read.skipped == 0 and assert_only_last_lines_torn(small_tmpfs) == 0


def test_not_required_answers_but_never_writes_into_a_moved_directory(tmp_path: Path) -> None:
    monitoring = tmp_path / "monitoring"
    with RecordWriter.to_directory(monitoring, required=False) as writer:
        writer.write_lines([padded_line("a")])
        monitoring.rename(tmp_path / "moved")
        writer.write_lines([padded_line("lost")])  # no exception: the rule is off
        assert not writer.writable
    assert [r["decision_id"] for r in read_records(tmp_path / "moved").records] == ["a"]


def test_unusable_directory_at_start_names_the_path_and_the_setting(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    with pytest.raises(RecordsDirectoryError) as raised:
        check_directory(not_a_dir)
    message = str(raised.value)
    assert str(not_a_dir / "decisions") in message and "CREDIT_RISK_MONITORING_DIR" in message
