"""Decision records written from columns: the lines of ``format.decision_lines``, byte for
byte, without a dict per application or per decision (``credit_risk.decision_json``).

The record's fields, their order and the shared values (time, endpoint, latency) come
from ``format.decision_record`` itself, built once per request: ``format.py`` stays the
contract's one definition, and ``tests/unit/records/test_columns.py`` holds the lines
equal.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import orjson

from credit_risk.decision_json import (
    Column,
    DecisionJson,
    Numbers,
    ObjectTemplate,
    Rendered,
    choices,
    reason_prefixes,
)
from credit_risk.decisions import DecisionColumns
from credit_risk.reasons import FIELD_REASONS
from credit_risk.records.format import (
    application_rows,
    decision_lines,
    decision_record,
    record_reason,
    utc_timestamp,
)
from credit_risk.vocabulary import APPLICATION_FIELDS, CATEGORIES

RECORD_REASONS: Final = reason_prefixes(
    record_reason({**fixed, "contribution": None}) for fixed in FIELD_REASONS
)
"""A reason's JSON as records keep it, up to its contribution, per field."""

PER_DECISION: Final = frozenset(
    {
        "decision_id",
        "application",
        "status",
        "default_probability",
        "score",
        "reasons",
        "out_of_training_range",
        "challenger",
    }
)
"""The record's fields that vary by decision; the others are the request's."""

COLUMN_WISE_FROM: Final = 64
"""Decisions from which ``record_lines`` writes column-wise: the two ways cost the same
at about 64 (0.96 ms and 1.1 ms here), the columns far less for 1,000 (3 and 12 ms)."""

_APPLICATION: Final = ObjectTemplate.of(APPLICATION_FIELDS)


def application_json(applications: Mapping[str, Sequence[Any]]) -> list[Column]:
    """Applications given column-wise (``features.application_columns``) as the
    ``application`` field's columns: each field's values written as ``orjson.dumps``
    writes them (numbers, ``null``, labels)."""
    values: dict[str, Sequence[Column]] = {}
    for name in APPLICATION_FIELDS:
        column = applications[name]
        values[name] = [choices(column) if name in CATEGORIES else Numbers(column)]
    return _APPLICATION.nested(values, len(applications[APPLICATION_FIELDS[0]]))


def record_lines(
    applications: Mapping[str, Sequence[Any]],
    decided: DecisionColumns,
    *,
    endpoint: str,
    latency_ms: float,
    time: str | None = None,
    challengers: Sequence[Mapping[str, Any]] | None = None,
) -> list[bytes]:
    """``decision_lines(application_rows(applications), decided.answers(), ...)``, the
    same bytes (arguments as ``decision_lines``'), from the columns for many decisions.

    Below ``COLUMN_WISE_FROM`` decisions, through the dicts: rendering the columns costs
    about 0.3 ms whatever their length, more than a few dicts do (measured).
    """
    moment = time if time is not None else utc_timestamp()
    if len(decided.status) < COLUMN_WISE_FROM:
        return decision_lines(
            application_rows(applications),
            decided.answers(),
            endpoint=endpoint,
            latency_ms=latency_ms,
            time=moment,
            challengers=challengers,
        )
    decision = {
        "decision_id": "",
        "model_tag": decided.model_tag,
        "policy_version": decided.policy_version,
        "status": "",
        "default_probability": 0.0,
        "score": 0,
        "reasons": [],
        "out_of_training_range": [],
    }
    # The contract's own record, once: its fields in order and the request's values.
    shape = decision_record(
        {},
        decision,
        endpoint=endpoint,
        latency_ms=latency_ms,
        time=moment,
        challenger=None if challengers is None else {},
    )
    template = ObjectTemplate.of(
        shape, {name: value for name, value in shape.items() if name not in PER_DECISION}
    )
    decisions = DecisionJson(decided)
    values: dict[str, Sequence[Column]] = {
        "decision_id": [decisions.decision_id],
        "application": application_json(applications),
        "status": [decisions.status],
        "default_probability": [decisions.default_probability],
        "score": [decisions.score],
        "reasons": decisions.reasons(RECORD_REASONS),
        "out_of_training_range": [decisions.out_of_training_range],
    }
    if challengers is not None:
        values["challenger"] = [Rendered(list(map(orjson.dumps, challengers)))]
    return template.fill(values, end=b"\n")
