"""The stored model: what serving and batch scoring need to load it and to score with it.

``store`` saves and loads the model store entry (the booster, its metadata, the
compiled explainer, verified at load); ``explainer`` is the compiled TreeSHAP that
gives every decision its exact reasons, and ``explainer_file`` keeps its table in the
store entry; ``xgboost_reasons`` is XGBoost's own
``pred_contribs`` path, the reference the explainer is verified against and the
fallback when it refuses a model; ``metadata`` is the store entry's contract
(``ModelMetadata``), written by training and read by serving, batch scoring and drift;
``audit`` measures what a fair-lending reviewer asks of a model (a protected field among
the reasons, Regulation B's elderly rule, field directions) and proves them on the
trees (``audit.proofs``: training fails, and loading refuses, a model that breaks
them); ``card`` writes the model card from the metadata at training.
Those modules need bentoml and xgboost, not the training extra; this one imports
nothing, so that settings and command lines can name the model without loading them.
"""

from typing import Final

MODEL_NAME: Final = "credit_risk_model"
"""The model store name every trained version is saved under."""

DEFAULT_MODEL_TAG: Final = f"{MODEL_NAME}:latest"
"""The tag served and scored with unless told otherwise: the newest trained version."""

CARD_MARKDOWN: Final = "model_card.md"
CARD_HTML: Final = "model_card.html"
"""The model card's files in the store entry, beside the booster (``card``)."""
