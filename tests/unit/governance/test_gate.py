"""The promotion gate: the paired AUC test, calibration and fair lending decide; a weakened
challenger is refused on real models and data."""

from __future__ import annotations

from collections.abc import Iterator

import bentoml
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from credit_risk.governance import gate
from credit_risk.governance.evidence import gather
from credit_risk.model.release import Release
from credit_risk.training.data import Dataset
from credit_risk.training.recipes import DEFAULT_RECIPE
from tests.support.models import store_version


def test_auc_is_sklearns_ties_included() -> None:
    generator = np.random.default_rng(1)
    labels = generator.integers(0, 2, 500)
    scores = np.round(generator.random(500) + labels * 0.3, 1)  # many ties
    assert gate.auc(labels, scores) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)


def test_a_model_against_itself_differs_by_nothing() -> None:
    generator = np.random.default_rng(2)
    labels = generator.integers(0, 2, 300)
    scores = generator.random(300) + labels * 0.5
    paired = gate.paired_auc(labels, scores, scores, resamples=200)
    assert paired.difference == 0 and paired.difference_low == paired.difference_high == 0


def _report(
    *, low: float = -0.005, brier: float = 0.15, marital: tuple[int, int] = (0, 0)
) -> gate.GateReport:
    def audits(count: int) -> gate.FairLending:
        failures = [f"{count} cite marital"] if count else []
        return gate.FairLending(failures, {"protected field marital among the reasons": count})

    return gate.GateReport(
        champion="credit_risk_model:a",
        challenger="credit_risk_model:b",
        rows=891,
        rows_source="test",
        auc=gate.PairedAuc(0.83, 0.83 + (low + 0.01) / 2, low, low + 0.01, 2000),
        calibration={
            "champion": gate.Calibration(0.15, 0.29, 0.29),
            "challenger": gate.Calibration(brier, 0.29, 0.29),
        },
        fair_lending={"champion": audits(marital[0]), "challenger": audits(marital[1])},
    )


def test_the_gate_promotes_a_challenger_no_worse_on_every_count() -> None:
    report = _report()
    assert report.promote and report.as_dict()["verdict"] == "promote"


@pytest.mark.parametrize(
    ("change", "refused_for"),
    [
        ({"low": -0.03}, "AUC"),
        ({"brier": 0.18}, "calibration"),
        ({"marital": (90, 120)}, "fair lending"),
        ({"marital": (0, 1)}, "fair lending"),
    ],
)
def test_the_gate_refuses_on_each_count_alone(change: dict[str, object], refused_for: str) -> None:
    report = _report(**change)  # type: ignore[arg-type]
    assert not report.promote
    assert [reason.split(":")[0] for reason in report.reasons] == [refused_for]
    assert report.as_dict()["verdict"] == "refuse"


@pytest.fixture(scope="module")
def weakened(trained_model: str, course_frame: pd.DataFrame) -> Iterator[str]:
    """A deliberately weakened challenger: two stumps. Deleted at the end."""
    tag = store_version(
        trained_model, course_frame, DEFAULT_RECIPE.with_params(max_depth=1, rounds=2)
    )
    yield tag
    bentoml.models.delete(tag)


@pytest.fixture(scope="module")
def undirected(trained_model: str, course_frame: pd.DataFrame) -> Iterator[str]:
    """A challenger trained without monotone constraints: its directions fail. Deleted at
    the end."""
    tag = store_version(
        trained_model, course_frame, DEFAULT_RECIPE.with_params(monotone_constraints="()")
    )
    yield tag
    bentoml.models.delete(tag)


def test_a_challenger_failing_a_fair_lending_proof_is_refused(
    trained_model: str, undirected: str, training_data: Dataset
) -> None:
    report = gather(Release(trained_model, undirected), training_data.path.parent, resamples=300)
    figures = report.as_dict()
    assert figures["verdict"] == "refuse"
    assert figures["fair_lending"]["rule"] == "strict"
    assert figures["fair_lending"]["champion"]["passed"]
    refusals = [reason for reason in report.reasons if reason.startswith("fair lending")]
    assert any("direction is not proven" in reason for reason in refusals), report.reasons


def test_a_weakened_challenger_is_refused_on_real_models(
    trained_model: str, weakened: str, training_data: Dataset
) -> None:
    report = gather(Release(trained_model, weakened), training_data.path.parent, resamples=300)
    figures = report.as_dict()
    assert figures["verdict"] == "refuse"
    assert figures["auc"]["difference_95_interval"][1] < 0
    assert any(reason.startswith("AUC") for reason in report.reasons)
    assert figures["champion"] == trained_model and figures["challenger"] == weakened
    assert set(figures["fair_lending"]) == {"rule", "champion", "challenger"}
