"""The workers' board of open connections: slots written by one, read by the others, the
dead ignored, the file removed by the last to leave. Other processes are real ones."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from credit_risk.serving.connection_board import MAX_SLOTS, ConnectionBoard, board_path

ROOT = Path(__file__).resolve().parents[3]


def test_a_worker_reads_what_the_others_publish(tmp_path: Path) -> None:
    path = tmp_path / "board"
    first, second, third = (ConnectionBoard(path, slot) for slot in (0, 1, 5))
    try:
        first.publish(3)
        second.publish(1)
        third.publish(2)
        assert first.fewest_elsewhere() == 1
        assert second.fewest_elsewhere() == 2
        assert third.fewest_elsewhere() == 1
    finally:
        for board in (first, second, third):
            board.close()


def test_alone_on_the_board_there_is_nobody_to_defer_to(tmp_path: Path) -> None:
    board = ConnectionBoard(tmp_path / "board", 0)
    board.publish(7)
    assert board.fewest_elsewhere() is None
    board.close()


def test_a_dead_workers_slot_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "board"
    board = ConnectionBoard(path, 0)
    try:
        board.publish(4)
        # A worker that took slot 1 with no connections, then died without leaving.
        subprocess.run(
            [
                sys.executable,
                "-c",
                "import os, sys; from pathlib import Path; "
                "from credit_risk.serving.connection_board import ConnectionBoard; "
                "ConnectionBoard(Path(sys.argv[1]), 1).publish(0); os._exit(0)",
                str(path),
            ],
            cwd=ROOT,
            check=True,
        )
        assert board.fewest_elsewhere() is None
    finally:
        board.close()


def test_the_last_worker_to_leave_removes_the_board(tmp_path: Path) -> None:
    path = tmp_path / "board"
    first, second = ConnectionBoard(path, 0), ConnectionBoard(path, 1)
    first.close()
    assert path.exists()
    assert second.fewest_elsewhere() is None
    second.close()
    assert not path.exists()


@pytest.mark.parametrize("slot", [-1, MAX_SLOTS])
def test_a_slot_off_the_board_is_refused(tmp_path: Path, slot: int) -> None:
    with pytest.raises(ValueError, match="slot"):
        ConnectionBoard(tmp_path / "board", slot)


def test_workers_sharing_a_listening_socket_share_a_board(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener, socket.socket() as other:
        inherited = listener.dup()  # as a worker's copy of the arbiter's socket
        try:
            here = board_path(listener.fileno(), tmp_path)
            assert board_path(inherited.fileno(), tmp_path) == here
            assert board_path(other.fileno(), tmp_path) != here
        finally:
            inherited.close()
