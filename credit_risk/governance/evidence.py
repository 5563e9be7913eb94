"""The gate's evidence, gathered: both models loaded as the service loads them, scored on
the same held-out rows, audited for fair lending, and the swap set of shadow traffic.

Needs the ``train`` extra (the data is read as ``train.py`` reads it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import bentoml
import numpy as np

from credit_risk.features import encode_columns
from credit_risk.governance.gate import (
    BOOTSTRAP_RESAMPLES,
    Calibration,
    FairLending,
    GateReport,
    paired_auc,
)
from credit_risk.governance.swaps import measure as measure_swaps
from credit_risk.model.audit.applications import Applications
from credit_risk.model.audit.proofs import prove
from credit_risk.model.audit.report import audit_population
from credit_risk.model.release import Release
from credit_risk.model.store import ServedModel, load_from_store
from credit_risk.policy import PROTECTED_FIELDS


def fair_lending(served: ServedModel, applications: Applications) -> FairLending:
    """The fair-lending proofs on ``served``'s trees (for every application) and its
    audits on ``applications``: a protected field among the reasons, the elderly rule,
    the field directions."""
    proven = prove(served.booster, (*PROTECTED_FIELDS, *served.policy.protected_fields))
    audit = audit_population("held-out", applications, served)
    violations = {
        f"protected field {audit.protected.field} among the reasons": audit.protected.citing,
        "elderly rule": audit.elderly.lower_when_younger
        + audit.elderly.risk_raising_age
        + audit.elderly.age_among_reasons,
        **{f"direction of {d.field}": d.violating for d in audit.directions},
    }
    return FairLending(failures=proven.failures() + audit.failures(), violations=violations)


def gather(
    release: Release,
    data_dir: Path,
    records: Iterable[Mapping[str, Any]] | None = None,
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
) -> GateReport:
    """The evidence comparing ``release``'s challenger with its champion on the course's
    held-out split of the data in ``data_dir``, with the swap set of ``records``."""
    from credit_risk.training.data import obtain_dataset
    from credit_risk.training.recipes import course_split, labels_of

    if release.challenger is None:
        raise ValueError("the release has no challenger to compare")
    dataset = obtain_dataset(data_dir)
    held_out = course_split(dataset.frame)[1]
    labels = labels_of(held_out).astype(np.int64)
    features = encode_columns(held_out)
    applications = Applications.from_columns(held_out)
    models = {
        "champion": load_from_store(bentoml.models.get(release.champion), nthread=1),
        "challenger": load_from_store(bentoml.models.get(release.challenger), nthread=1),
    }
    probabilities = {
        name: served.explain(features)[:, 0].astype(np.float64) for name, served in models.items()
    }
    swaps = measure_swaps(records) if records is not None else None
    return GateReport(
        champion=models["champion"].tag,
        challenger=models["challenger"].tag,
        rows=len(labels),
        rows_source=(
            f"the course's held-out split (test_size 0.2, seed 11) of {dataset.path} "
            f"(sha256 {dataset.sha256})"
        ),
        auc=paired_auc(
            labels, probabilities["champion"], probabilities["challenger"], resamples=resamples
        ),
        calibration={
            name: Calibration.of(labels, scores) for name, scores in probabilities.items()
        },
        fair_lending={name: fair_lending(served, applications) for name, served in models.items()},
        swap_set=swaps.as_dict() if swaps is not None else None,
    )
