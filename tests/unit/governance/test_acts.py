"""Promotion and rollback: each writes its governance record, then the release; refused
acts write neither."""

from __future__ import annotations

from pathlib import Path

import pytest

from credit_risk.governance import acts
from credit_risk.model.release import Release, read_release, write_release

OLD = Release("credit_risk_model:old", "credit_risk_model:new")
EVIDENCE = {
    "champion": OLD.champion,
    "challenger": OLD.challenger,
    "verdict": "promote",
    "reasons": [],
}


def _promote(tmp_path: Path, evidence: dict[str, object], operator: str = "A. Reviewer") -> None:
    acts.promote(
        OLD,
        release_file=tmp_path / "release.json",
        monitoring_dir=tmp_path / "monitoring",
        operator=operator,
        reason="better AUC, no fair-lending regression",
        evidence=evidence,
    )


def test_promotion_then_rollback_are_recorded_and_change_the_release(tmp_path: Path) -> None:
    release_file = tmp_path / "release.json"
    write_release(release_file, OLD)
    _promote(tmp_path, EVIDENCE)
    promoted = Release("credit_risk_model:new", "credit_risk_model:old")
    assert read_release(release_file) == promoted
    [record] = acts.read_acts(tmp_path / "monitoring")
    assert record["act"] == "promote" and record["operator"] == "A. Reviewer"
    assert (record["old_champion"], record["new_champion"]) == (OLD.champion, promoted.champion)
    assert record["evidence"] == EVIDENCE and record["reason"].startswith("better AUC")
    assert record["time"].endswith("Z")

    acts.rollback(
        promoted,
        release_file=release_file,
        monitoring_dir=tmp_path / "monitoring",
        operator="B. Operator",
        reason="complaints",
    )
    assert read_release(release_file) == OLD
    rolled = acts.read_acts(tmp_path / "monitoring")[-1]
    assert rolled["act"] == "rollback" and rolled["new_champion"] == OLD.champion
    assert rolled["evidence"] == {"rolls_back": record["time"], "act": "promote"}


@pytest.mark.parametrize(
    ("evidence", "operator", "why"),
    [
        ({**EVIDENCE, "verdict": "refuse", "reasons": ["AUC: worse"]}, "A", "gate refused"),
        ({**EVIDENCE, "challenger": "credit_risk_model:other"}, "A", "not this release"),
        (EVIDENCE, " ", "operator's name"),
    ],
)
def test_a_refused_promotion_leaves_nothing_behind(
    tmp_path: Path, evidence: dict[str, object], operator: str, why: str
) -> None:
    write_release(tmp_path / "release.json", OLD)
    with pytest.raises(acts.ActRefusedError, match=why):
        _promote(tmp_path, evidence, operator)
    assert read_release(tmp_path / "release.json") == OLD
    assert acts.read_acts(tmp_path / "monitoring") == []


def test_rollback_needs_an_act_and_the_release_it_made(tmp_path: Path) -> None:
    kwargs = {
        "release_file": tmp_path / "release.json",
        "monitoring_dir": tmp_path / "monitoring",
        "operator": "B",
        "reason": "r",
    }
    with pytest.raises(acts.ActRefusedError, match="no act"):
        acts.rollback(OLD, **kwargs)  # type: ignore[arg-type]
    write_release(tmp_path / "release.json", OLD)
    _promote(tmp_path, EVIDENCE)
    with pytest.raises(acts.ActRefusedError, match="by hand"):
        acts.rollback(Release("credit_risk_model:elsewhere"), **kwargs)  # type: ignore[arg-type]
