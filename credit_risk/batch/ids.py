"""Decision ids of batch runs: the same (run, row) always gets the same id.

A retried Spark task, or ``score.py`` run again with the same ``--run-id``, writes
its records again under the same ids, so a reader (``credit_risk.records.reader``)
keeps one record per decision. An id is a UUID of version 8 (RFC 9562's layout for
ids made by an application's own rule): the first half is the run's (a UUID5 of the
run id), the second the row's number mixed into it. One run's ids are distinct for
every row number below 2**62; two runs' share a first half with odds of 1 in 2**60.

Made with numpy: ``uuid.uuid5`` per row cost 15 times ``decisions.uuid4_strings``
(measured on this machine under load: 55 against 3.7 µs a row).
"""

from __future__ import annotations

import uuid
from typing import Final

import numpy as np
import numpy.typing as npt

RUN_NAMESPACE: Final = uuid.UUID("0c5d3a52-6f1e-5b8e-9d0b-8a1f2c3e4b57")
"""The namespace of run ids' UUID5s (any fixed UUID: it only has to never change)."""

_HEX_POSITIONS: Final = np.array([i for i in range(36) if i not in (8, 13, 18, 23)])
"""Where a UUID's 32 hex digits go in its 36-character text; dashes elsewhere."""


def new_run_id() -> str:
    """A fresh run id, for a run that was given none."""
    return str(uuid.uuid4())


def run_decision_ids(run_id: str, row_ids: npt.ArrayLike) -> list[str]:
    """The decision id of each row (a non-negative row number) of run ``run_id``."""
    rows = np.asarray(row_ids, dtype=np.int64).reshape(-1)
    if (rows < 0).any():
        raise ValueError("row numbers must be non-negative")
    count = len(rows)
    raw = np.tile(
        np.frombuffer(uuid.uuid5(RUN_NAMESPACE, run_id).bytes, dtype=np.uint8), (count, 1)
    )
    raw[:, 8:] ^= rows.astype(">u8").view(np.uint8).reshape(count, 8)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x80  # version 8
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80  # RFC 9562 variant
    digits = np.frombuffer(raw.tobytes().hex().encode(), dtype=np.uint8).reshape(count, 32)
    text = np.full((count, 36), ord("-"), dtype=np.uint8)
    text[:, _HEX_POSITIONS] = digits
    return text.view("S36").ravel().astype(str).tolist()
