"""The standard-output sink: whole lines through a pipe, cut at line ends within PIPE_BUF."""

from __future__ import annotations

import json
import select
import subprocess
import sys

from credit_risk.records.sinks import _line_chunks
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
