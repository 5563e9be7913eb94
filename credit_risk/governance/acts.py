"""Promotion and rollback as recorded acts.

Each act writes one governance record, a JSON line in
``<monitoring_dir>/governance/acts.jsonl`` beside the decision records: when, who (the
operator's name), the act, the release before and after, the evidence (the gate's JSON)
and the reason. Then it writes the new release file. A promotion swaps the aliases: the
challenger becomes the champion and the old champion its challenger. A rollback
restores the release before the last act, and is recorded the same way.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

from credit_risk.model.release import Release, write_release
from credit_risk.records.format import utc_timestamp

GOVERNANCE_SUBDIR: Final = "governance"
ACTS_FILE: Final = "acts.jsonl"

Act = Literal["promote", "rollback"]


class ActRefusedError(RuntimeError):
    """The act cannot be done: nothing to promote, nothing to roll back, or a gate said no."""


def acts_path(monitoring_dir: Path) -> Path:
    """The governance records of a monitoring directory."""
    return monitoring_dir / GOVERNANCE_SUBDIR / ACTS_FILE


def read_acts(monitoring_dir: Path) -> list[dict[str, Any]]:
    """Every governance record, oldest first."""
    path = acts_path(monitoring_dir)
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def _append(monitoring_dir: Path, record: Mapping[str, Any]) -> None:
    path = acts_path(monitoring_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(record, separators=(",", ":")) + "\n"
    # One write of one line, then fsync: an act is rare, and must survive a crash.
    with path.open("a", encoding="utf-8") as file:
        file.write(line)
        file.flush()
        os.fsync(file.fileno())


@dataclass(frozen=True)
class ActRecord:
    """What an act did."""

    act: Act
    before: Release
    after: Release
    record: dict[str, Any]


def promote(
    current: Release,
    *,
    release_file: Path,
    monitoring_dir: Path,
    operator: str,
    reason: str,
    evidence: Mapping[str, Any],
) -> ActRecord:
    """Promote the challenger: record the act, then write the swapped release.

    Raises:
        ActRefusedError: no challenger, or the evidence is not the gate's ``promote``
            for these two models.
    """
    if current.challenger is None:
        raise ActRefusedError("the release has no challenger to promote")
    if (evidence.get("champion"), evidence.get("challenger")) != (
        current.champion,
        current.challenger,
    ):
        raise ActRefusedError(
            f"the evidence compares {evidence.get('challenger')} with "
            f"{evidence.get('champion')}, not this release's models"
        )
    if evidence.get("verdict") != "promote":
        raise ActRefusedError(f"the gate refused: {'; '.join(evidence.get('reasons', []))}")
    after = Release(current.challenger, current.champion)
    return _act(
        "promote",
        current,
        after,
        _Where(release_file, monitoring_dir),
        operator=operator,
        reason=reason,
        evidence=evidence,
    )


def rollback(
    current: Release, *, release_file: Path, monitoring_dir: Path, operator: str, reason: str
) -> ActRecord:
    """Restore the release before the last act: record the act, then write it.

    Raises:
        ActRefusedError: no act to roll back, or the release is no longer the one the
            last act made (something else changed it since).
    """
    acts = read_acts(monitoring_dir)
    if not acts:
        raise ActRefusedError(f"no act to roll back in {acts_path(monitoring_dir)}")
    last = acts[-1]
    made = Release.from_json(last["after"])
    if made != current:
        raise ActRefusedError(
            f"the release is {current}, not what the last act made ({made}): roll back by hand"
        )
    before = Release.from_json(last["before"])
    evidence = {"rolls_back": last["time"], "act": last["act"]}
    return _act(
        "rollback",
        current,
        before,
        _Where(release_file, monitoring_dir),
        operator=operator,
        reason=reason,
        evidence=evidence,
    )


@dataclass(frozen=True)
class _Where:
    release_file: Path
    monitoring_dir: Path


def _act(
    act: Act,
    before: Release,
    after: Release,
    where: _Where,
    *,
    operator: str,
    reason: str,
    evidence: Mapping[str, Any],
) -> ActRecord:
    if not operator.strip() or not reason.strip():
        raise ActRefusedError("an act needs the operator's name and a reason")
    record = {
        "time": utc_timestamp(),
        "act": act,
        "operator": operator,
        "old_champion": before.champion,
        "new_champion": after.champion,
        "before": before.to_json(),
        "after": after.to_json(),
        "reason": reason,
        "evidence": dict(evidence),
    }
    # The record first: a release changed without its record is what this forbids.
    _append(where.monitoring_dir, record)
    write_release(where.release_file, after)
    return ActRecord(act, before, after, record)
