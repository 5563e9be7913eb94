"""Training reports under ``reports/``: a JSON summary, a ROC curve and a calibration
plot; the model card and the held-out fairness report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.metrics import roc_curve

from credit_risk.fairness.report import write_report
from credit_risk.model import CARD_HTML, CARD_MARKDOWN
from credit_risk.model.card import card_html, card_markdown
from credit_risk.model.metadata import CalibrationBin, ModelMetadata


def write_reports(
    directory: Path,
    summary: dict[str, Any],
    labels: npt.NDArray[np.int8],
    probabilities: npt.NDArray[Any],
    calibration: list[CalibrationBin],
) -> list[Path]:
    """Write ``training_report.json``, ``roc.png`` and ``calibration.png``; return their paths."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    directory.mkdir(parents=True, exist_ok=True)
    report = directory / "training_report.json"
    report.write_text(json.dumps(summary, indent=2) + "\n")

    roc = directory / "roc.png"
    false_positive, true_positive, _ = roc_curve(labels, probabilities)
    figure, axes = plt.subplots(figsize=(5, 5))
    axes.plot(false_positive, true_positive, label=f"test AUC {summary['test_auc']:.3f}")
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey")
    axes.set(
        xlabel="False positive rate", ylabel="True positive rate", title="ROC, course test split"
    )
    axes.legend(loc="lower right")
    figure.savefig(roc, dpi=100, bbox_inches="tight")
    plt.close(figure)

    calibration_png = directory / "calibration.png"
    figure, axes = plt.subplots(figsize=(5, 5))
    axes.plot(
        [row.mean_predicted for row in calibration],
        [row.observed_rate for row in calibration],
        marker="o",
        label="model",
    )
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect")
    axes.set(
        xlabel="Mean predicted default probability",
        ylabel="Observed default rate",
        title="Calibration by decile, course test split",
    )
    axes.legend(loc="upper left")
    figure.savefig(calibration_png, dpi=100, bbox_inches="tight")
    plt.close(figure)
    return [report, roc, calibration_png]


def write_governance_reports(directory: Path, tag: str, metadata: ModelMetadata) -> list[Path]:
    """Write the model card (``model_card.md``, ``model_card.html``, as stored with the
    model) and the held-out fairness report (``fairness/``); return their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    markdown, page = directory / CARD_MARKDOWN, directory / CARD_HTML
    markdown.write_text(card_markdown(tag, metadata))
    page.write_text(card_html(tag, metadata))
    fairness = directory / "fairness"
    write_report(
        metadata.fairness,
        fairness,
        title=f"Fairness of {tag} on the held-out data",
        note="Decided by the stored policy on the course's test split, by a fit on its "
        "train split; default rates and mean predictions are the calibration by group.",
    )
    return [markdown, page, fairness / "fairness.html", fairness / "fairness.json"]
