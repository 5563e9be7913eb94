"""The audit tests' fixtures: the served model, the data as the audits hold it, and a
small booster that keeps every audited property by construction."""

from __future__ import annotations

import bentoml
import pandas as pd
import pytest

from credit_risk.model.audit.applications import Applications
from credit_risk.model.store import ServedModel, load_from_store
from tests.unit.model.audit.models import (
    BLIND_TO_PROTECTED_AND_AGE,
    BLIND_TO_ZERO_ASSETS_RATIO,
    COMPLIANT_CONSTRAINTS,
    SmallModel,
    defaults,
    small_model,
)


@pytest.fixture(scope="module")
def served(trained_model: str) -> ServedModel:
    """The model train.py stored, loaded as the service loads it."""
    return load_from_store(bentoml.models.get(trained_model), nthread=1)


@pytest.fixture(scope="session")
def data(course_frame: pd.DataFrame) -> Applications:
    """Every application of the data."""
    return Applications.from_columns(course_frame)


@pytest.fixture(scope="session")
def compliant(course_frame: pd.DataFrame) -> SmallModel:
    """Blind to marital status, age and debt/assets, with every directed field's
    features constrained its way: every audit must pass on it."""
    return small_model(
        course_frame,
        defaults(course_frame),
        blind=(*BLIND_TO_PROTECTED_AND_AGE, BLIND_TO_ZERO_ASSETS_RATIO),
        constraints=COMPLIANT_CONSTRAINTS,
    )
