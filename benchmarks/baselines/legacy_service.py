"""The course's design: a ``bentoml.legacy.Service`` with a model runner.

Kept only as the reference the new service must beat; BentoML 1.4 prints that
this API is deprecated. It does the same validation and inference as the
service, through a batchable legacy runner. ``CREDIT_RISK_BASELINE_EXPLAINER``
picks how its runner computes the reasons, as in ``fastapi_app.py``:
``xgboost`` (XGBoost's ``pred_contribs``, what the course's design would do) or
``compiled`` (default; the service's explainer: only the architecture differs).
Serve it with

    bentoml serve benchmarks.baselines.legacy_service:svc
"""

from __future__ import annotations

import os

import bentoml
import numpy as np
from bentoml.io import JSON

from credit_risk.decisions import DecisionMaker
from credit_risk.features import encode_application
from credit_risk.model import DEFAULT_MODEL_TAG
from credit_risk.model.store import load_from_store
from credit_risk.schema import CreditApplication

stored = bentoml.models.get(os.environ.get("CREDIT_RISK_MODEL_TAG", DEFAULT_MODEL_TAG))
WITH_XGBOOST = os.environ.get("CREDIT_RISK_BASELINE_EXPLAINER", "compiled") == "xgboost"


class CreditRiskRunnable(bentoml.legacy.Runnable):
    """The model, as the course wraps it: one runner, adaptive batching."""

    SUPPORTED_RESOURCES = ("cpu",)
    SUPPORTS_CPU_MULTI_THREADING = False

    def __init__(self) -> None:
        self.served = load_from_store(stored, nthread=1, compile_explainer=not WITH_XGBOOST)

    @bentoml.legacy.Runnable.method(batchable=True, batch_dim=0)
    def explain(self, features: np.ndarray) -> np.ndarray:
        """Probabilities and field contributions, as the service's runner computes them."""
        return self.served.explain(features)


runner = bentoml.legacy.Runner(CreditRiskRunnable, name="credit_risk_runner", models=[stored])
svc = bentoml.legacy.Service("credit_risk_course", runners=[runner])
# Here only for the policy and ranges: the runner explains.
served = load_from_store(stored, nthread=1, compile_explainer=False)
decider = DecisionMaker(served.tag, served.policy, served.training_ranges)


@svc.api(input=JSON(pydantic_model=CreditApplication), output=JSON())
async def classify(application: CreditApplication) -> dict[str, object]:
    """Decide one application, the course's way."""
    features = np.asarray([encode_application(application)], dtype=np.float32)
    scored = (await runner.explain.async_run(features))[0].tolist()
    return decider.decide(features[0].tolist(), scored[0], scored[1:]).model_dump()
