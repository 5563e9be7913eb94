"""Saving the trained model to the BentoML model store, and loading it back.

The store entry holds everything the service needs to score: the booster, the
feature list, the decision policy, training ranges and the reference
distribution. Nothing under ``data/`` or ``reports/`` is read when serving.

``bentoml.models.create`` is used rather than ``bentoml.xgboost.save_model``
because the latter looks up the version of the distribution named ``xgboost``
and fails under ``xgboost-cpu``, which we install (18 MB instead of 700 MB).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import bentoml
import numpy as np
import numpy.typing as npt
import xgboost as xgb

from credit_risk import scoring
from credit_risk.features import FEATURE_NAMES
from credit_risk.policy import DecisionPolicy

logger = logging.getLogger(__name__)

MODEL_NAME: Final = "credit_risk_model"
BOOSTER_FILE: Final = "booster.ubj"


class IncompatibleModelError(RuntimeError):
    """The stored model was trained on another feature encoding than this code's."""


def save_to_store(
    booster: xgb.Booster, *, labels: dict[str, str], metadata: dict[str, Any]
) -> bentoml.Model:
    """Save the booster with its labels and metadata as a new version of ``credit_risk_model``."""
    with bentoml.models.create(MODEL_NAME, labels=labels, metadata=metadata) as model:
        booster.save_model(Path(model.path) / BOOSTER_FILE)
        # BentoML stages the model in a mkdtemp folder (mode 0700), and that mode
        # travels into bentos and images: AWS Lambda, which runs an image as a user
        # of its own, could then not read the model. Readable by all, like a package.
        Path(model.path).chmod(0o755)
    logger.info("Saved %s", model.tag)
    return model


@dataclass(frozen=True)
class ServedModel:
    """A stored model, loaded and checked, ready to score."""

    tag: str
    booster: xgb.Booster
    nthread: int
    policy: DecisionPolicy
    training_ranges: dict[str, list[float]]
    metadata: dict[str, Any]

    def explain(self, features: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Per row of encoded features: the default probability, then the 13 fields'
        contributions. The one scoring entry point of serving and batch scoring."""
        return scoring.explain(self.booster, features, self.nthread)


def load_from_store(model: bentoml.Model, *, nthread: int) -> ServedModel:
    """Load a stored model and check that its features match this code's encoding."""
    metadata = dict(model.info.metadata)
    features = tuple(metadata.get("features", ()))
    if features != FEATURE_NAMES:
        raise IncompatibleModelError(
            f"{model.tag} was trained on features {list(features)}, but this code encodes "
            f"{list(FEATURE_NAMES)}; retrain with `python train.py`."
        )
    booster = xgb.Booster(model_file=str(Path(model.path) / BOOSTER_FILE))
    if tuple(booster.feature_names or ()) != FEATURE_NAMES:
        raise IncompatibleModelError(
            f"{model.tag}: the booster's features differ from its metadata"
        )
    # Names are checked once here; unnamed matrices then skip a per-call check.
    booster.feature_names = None
    booster.set_param({"nthread": nthread})
    return ServedModel(
        tag=str(model.tag),
        booster=booster,
        nthread=nthread,
        policy=DecisionPolicy.model_validate(metadata["policy"]),
        training_ranges=metadata["training_ranges"],
        metadata=metadata,
    )
