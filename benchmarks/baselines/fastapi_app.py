"""The baselines: what a user would hand-roll instead of BentoML.

A plain FastAPI app doing the same validation (the shared pydantic schema) and
the same inference (the same booster, encoding and decision) as the service,
without monitoring. ``CREDIT_RISK_BASELINE_EXPLAINER`` picks how reasons are
computed:

* ``compiled`` (default): ``ServedModel.explain``, the compiled explainer, as
  the service does: the same engine, so only the serving stack differs;
* ``xgboost``: XGBoost's ``pred_contribs``, as a user would write it.

``bench.py`` runs the first at its best and the second as a user would::

    uvicorn benchmarks.baselines.fastapi_app:app --workers 2 --loop uvloop --http httptools \
        --no-access-log
    CREDIT_RISK_BASELINE_EXPLAINER=xgboost \
        uvicorn benchmarks.baselines.fastapi_app:app --workers 2 --no-access-log
"""

from __future__ import annotations

import os

import bentoml
import numpy as np
from fastapi import FastAPI

from credit_risk.decisions import DecisionMaker
from credit_risk.features import encode_application, encode_applications
from credit_risk.model import DEFAULT_MODEL_TAG
from credit_risk.model.store import load_from_store
from credit_risk.schema import ApplicationBatch, BatchDecisions, CreditApplication, Decision

WITH_XGBOOST = os.environ.get("CREDIT_RISK_BASELINE_EXPLAINER", "compiled") == "xgboost"
served = load_from_store(
    bentoml.models.get(os.environ.get("CREDIT_RISK_MODEL_TAG", DEFAULT_MODEL_TAG)),
    nthread=1,
    compile_explainer=not WITH_XGBOOST,
)
decider = DecisionMaker(served.tag, served.policy, served.training_ranges)
app = FastAPI(title="credit-risk baseline")


@app.get("/readyz")
async def readyz() -> dict[str, str]:
    """Ready once the model is loaded, which happens at import."""
    return {"status": "ready"}


@app.post("/classify")
async def classify(application: CreditApplication) -> Decision:
    """Decide one application; the work is sub-millisecond, so it runs on the loop."""
    features = np.asarray([encode_application(application)], dtype=np.float32)
    scored = served.explain(features)[0].tolist()
    return decider.decide(features[0].tolist(), scored[0], scored[1:])


@app.post("/classify_batch")
async def classify_batch(batch: ApplicationBatch) -> BatchDecisions:
    """Decide a batch of applications, in order."""
    features = encode_applications(batch.applications)
    scored = served.explain(features)
    return BatchDecisions(decisions=decider.decide_all(features, scored))
