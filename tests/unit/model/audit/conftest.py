"""The audit tests' fixtures: the served model, the data and generated applications as the
audits hold them, and a small booster built with the served model's safeguards."""

from __future__ import annotations

from typing import Final

import bentoml
import pandas as pd
import pytest

from credit_risk.generator import ApplicationGenerator
from credit_risk.model.audit.applications import Applications
from credit_risk.model.store import ServedModel, load_from_store
from tests.unit.model.audit.models import COMPLIANT, SmallModel, defaults, small_model

GENERATED: Final = 10_000
"""Generated applications audited, as ``python -m credit_risk.model.audit`` does by default."""


@pytest.fixture(scope="module")
def served(trained_model: str) -> ServedModel:
    """The model train.py stored, loaded as the service loads it."""
    return load_from_store(bentoml.models.get(trained_model), nthread=1)


@pytest.fixture(scope="session")
def data(course_frame: pd.DataFrame) -> Applications:
    """Every application of the data."""
    return Applications.from_columns(course_frame)


@pytest.fixture(scope="module")
def generated(served: ServedModel) -> Applications:
    """``GENERATED`` applications drawn from the served model's reference (seed 0)."""
    drawn = ApplicationGenerator(served.metadata.reference, seed=0).draw_columns(GENERATED)
    return Applications.from_columns(drawn)


@pytest.fixture(scope="session")
def compliant(course_frame: pd.DataFrame) -> SmallModel:
    """Trained on the data's labels with the served model's safeguards (marital hidden,
    ``MONOTONE_CONSTRAINTS``, age alone): every audit must pass on it."""
    return small_model(course_frame, defaults(course_frame), COMPLIANT)
