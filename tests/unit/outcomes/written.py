"""Decision records written in the contract's format, for the outcomes tests."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from credit_risk.records.format import decision_record, record_line


def record_bytes(decision_id: str, probability: float, *, time: str, age: int = 30) -> bytes:
    """One decision record line (``credit_risk.records.format``)."""
    status = "APPROVED" if probability <= 0.25 else "MAYBE" if probability <= 0.5 else "DECLINED"
    application = {"age": age, "marital": "married" if age % 2 else "single"}
    decision = {
        "decision_id": decision_id,
        "model_tag": "credit_risk_model:test",
        "policy_version": "course-2024.1",
        "status": status,
        "default_probability": probability,
        "score": int(600 - 300 * probability),
        "reasons": [],
        "out_of_training_range": [],
    }
    return record_line(
        decision_record(application, decision, endpoint="/classify", latency_ms=1.0, time=time)
    )


def write_records(path: Path, probabilities: np.ndarray, prefix: str = "d") -> list[str]:
    """Records of decisions ``<prefix>-<i>`` spread over three months; their ids."""
    path.parent.mkdir(parents=True, exist_ok=True)
    ids = [f"{prefix}-{i}" for i in range(probabilities.size)]
    with path.open("ab") as stream:
        for i, (decision_id, p) in enumerate(zip(ids, probabilities.tolist(), strict=True)):
            month = 1 + i % 3
            time = f"2026-{month:02d}-15T10:00:00.000000Z"
            stream.write(record_bytes(decision_id, p, time=time, age=20 + i % 60))
    return ids


def write_outcomes(path: Path, rows: list[tuple[str, object, object]]) -> Path:
    """An outcome CSV file."""
    with path.open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["decision_id", "defaulted", "observed_at"])
        writer.writerows(rows)
    return path
