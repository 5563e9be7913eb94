"""The decision record: one JSON line per decision, as the team's contract defines it.

The same builder serves the API workers and the batch scorer, so every writer
produces the same fields in the same order.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any, Final

from credit_risk.schema import CreditApplication, Decision
from credit_risk.vocabulary import APPLICATION_FIELDS

RECORDS_SUBDIR: Final = "decisions"
"""Records go to ``<CREDIT_RISK_MONITORING_DIR>/decisions/*.jsonl``."""

RECORD_SUFFIX: Final = ".jsonl"


def utc_timestamp(now: dt.datetime | None = None) -> str:
    """``2026-12-01T13:50:27.123456Z``: the record's ``time``, always UTC, microseconds."""
    moment = now if now is not None else dt.datetime.now(dt.UTC)
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def decision_record(
    application: CreditApplication,
    decision: Decision,
    *,
    endpoint: str,
    latency_ms: float,
    time: str | None = None,
) -> dict[str, Any]:
    """The record of one decision, as a dict in the contract's field order."""
    return {
        "decision_id": decision.decision_id,
        "time": time if time is not None else utc_timestamp(),
        "model_tag": decision.model_tag,
        "policy_version": decision.policy_version,
        "endpoint": endpoint,
        "application": {field: getattr(application, field) for field in APPLICATION_FIELDS},
        "status": decision.status,
        "default_probability": decision.default_probability,
        "score": decision.score,
        "reasons": [
            {"code": reason.code, "field": reason.field, "contribution": reason.contribution}
            for reason in decision.reasons
        ],
        "out_of_training_range": list(decision.out_of_training_range),
        "latency_ms": round(latency_ms, 3),
    }


def decision_lines(
    applications: Sequence[CreditApplication],
    decisions: Sequence[Decision],
    *,
    endpoint: str,
    latency_ms: float,
) -> list[bytes]:
    """One ``\\n``-terminated UTF-8 JSON line per decision, ready for a ``RecordWriter``.

    ``latency_ms`` is the request's (a batch shares one); ``time`` is now, shared too.
    """
    time = utc_timestamp()
    return [
        record_line(
            decision_record(
                application, decision, endpoint=endpoint, latency_ms=latency_ms, time=time
            )
        )
        for application, decision in zip(applications, decisions, strict=True)
    ]


def record_line(record: dict[str, Any]) -> bytes:
    """A record as one line: compact JSON, no NaN (refused: the contract is strict JSON)."""
    return (json.dumps(record, separators=(",", ":"), allow_nan=False) + "\n").encode()
