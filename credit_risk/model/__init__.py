"""The stored model: what serving and batch scoring need to load it and to score with it.

``store`` saves and loads the model store entry (the booster, its metadata, the
compiled explainer, verified at load); ``explainer`` is the compiled TreeSHAP that
gives every decision its exact reasons; ``xgboost_reasons`` is XGBoost's own
``pred_contribs`` path, the reference the explainer is verified against and the
fallback when it refuses a model. Needs bentoml and xgboost, not the training extra.
"""
