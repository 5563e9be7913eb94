"""Whether decision records can be written: the state, its metrics and its log lines.

One ``RecordsHealth`` per writer. It changes state only on a real outcome (a
group written, a write failed, a probe of the directory), logs one line per
change of state (ERROR when records stop, WARNING when they resume), never
one per request, and keeps ``/metrics`` current. BentoML runs API workers
with ``PROMETHEUS_MULTIPROC_DIR`` set: the counters add up across workers and
the gauge shows the worst live worker (``livemin``).
"""

from __future__ import annotations

import logging
import threading
from typing import Final

from prometheus_client import Counter, Gauge

logger = logging.getLogger("credit_risk.records")

records_written_total: Final = Counter(
    name="credit_decision_records_written_total",
    documentation="Decision records written (handed to the operating system).",
)
records_failed_total: Final = Counter(
    name="credit_decision_records_failed_total",
    documentation=(
        "Decision records that could not be written: refused decisions (503), or, with "
        "CREDIT_RISK_RECORDS_REQUIRED=false, decisions answered without their record."
    ),
    labelnames=["outcome"],
)
records_writable: Final = Gauge(
    name="credit_decision_records_writable",
    documentation="1 while decision records can be written, 0 while they cannot.",
    multiprocess_mode="livemin",
)

REFUSED: Final = "refused"
"""The decision was not answered (503): the rule held."""
LOST: Final = "lost"
"""The decision was answered without its record (CREDIT_RISK_RECORDS_REQUIRED=false)."""


class RecordsHealth:
    """The writable/suspended state of one writer, thread-safe."""

    def __init__(self, destination: str, *, required: bool) -> None:
        """Track the health of records going to ``destination`` (a path, or ``stdout``)."""
        self.destination = destination
        self.required = required
        self._lock = threading.Lock()
        self._writable = True
        self._reason = ""
        self._failed_since_change = 0
        records_writable.set(1)

    @property
    def writable(self) -> bool:
        """Whether the last attempt (write or probe) succeeded."""
        return self._writable

    @property
    def reason(self) -> str:
        """Why records cannot be written (the OS error), or ``""`` while they can."""
        return self._reason

    def written(self, count: int) -> None:
        """``count`` records were written: records are writable (again)."""
        records_written_total.inc(count)
        self.recovered()

    def recovered(self) -> None:
        """A write or probe succeeded; logs once if records were failing."""
        with self._lock:
            if self._writable:
                return
            self._writable = True
            self._reason = ""
            failed, self._failed_since_change = self._failed_since_change, 0
        records_writable.set(1)
        outcome = "refused" if self.required else "answered without their record"
        logger.warning(
            "Decision records are writable again at %s: decisions resume "
            "(%d decisions were %s meanwhile).",
            self.destination,
            failed,
            outcome,
        )

    def failed(self, error: OSError, count: int) -> None:
        """``count`` records could not be written because of ``error``; logs once per outage."""
        records_failed_total.labels(outcome=REFUSED if self.required else LOST).inc(count)
        self.unwritable(error, count)

    def unwritable(self, error: OSError, count: int = 0) -> None:
        """A write or probe failed; logs once when records stop being writable."""
        reason = describe(error)
        with self._lock:
            self._failed_since_change += count
            if not self._writable:
                self._reason = reason
                return
            self._writable = False
            self._reason = reason
        records_writable.set(0)
        if self.required:
            consequence = (
                "decisions are suspended (503) until they can be written again "
                "(CREDIT_RISK_RECORDS_REQUIRED=true)"
            )
        else:
            consequence = (
                "decisions are ANSWERED WITHOUT THEIR RECORD and counted in "
                "credit_decision_records_failed_total (CREDIT_RISK_RECORDS_REQUIRED=false)"
            )
        logger.error(
            "Decision records cannot be written to %s: %s; %s.",
            self.destination,
            reason,
            consequence,
        )


def describe(error: OSError) -> str:
    """``No space left on device`` and the like: the OS's words, without a traceback."""
    text = error.strerror or str(error) or type(error).__name__
    return f"{text} (errno {error.errno})" if error.errno else text
