"""The load-test generator draws valid applications from the stored reference."""

from __future__ import annotations

import bentoml
import pytest
from pydantic import ValidationError

from credit_risk.generator import INVALID_CASES, ApplicationGenerator, spoil
from credit_risk.model.metadata import ModelMetadata, Reference
from credit_risk.schema import COURSE_EXAMPLE, CreditApplication


@pytest.fixture(scope="module")
def reference(trained_model: str) -> Reference:
    """The trained model's reference distribution."""
    return ModelMetadata.model_validate(bentoml.models.get(trained_model).info.metadata).reference


@pytest.fixture(scope="module")
def generator(reference: Reference) -> ApplicationGenerator:
    """A generator over the trained model's reference distribution."""
    return ApplicationGenerator(reference)


def test_drawn_applications_are_valid_and_look_like_the_data(
    generator: ApplicationGenerator, course_frame
) -> None:
    applications = [CreditApplication.model_validate(a) for a in generator.draw(10_000)]
    owners = sum(a.home == "owner" for a in applications) / len(applications)
    assert owners == pytest.approx((course_frame["home"] == "owner").mean(), abs=0.02)
    # Values are uniform within decile bins, so quantiles match to within a bin: the
    # data's median amount (1,000, a bin edge) and the drawn one share the bin 1,000-1,100.
    amounts = sorted(a.amount for a in applications)
    assert amounts[len(amounts) // 2] == pytest.approx(course_frame["amount"].median(), rel=0.1)
    assert any(a.income is None for a in applications)


def test_draws_are_reproducible(reference: Reference) -> None:
    assert ApplicationGenerator(reference, seed=5).draw(50) == ApplicationGenerator(
        reference, seed=5
    ).draw(50)


@pytest.mark.parametrize("case", INVALID_CASES, ids=list(INVALID_CASES))
def test_every_invalid_case_is_rejected_naming_its_field(case: str) -> None:
    with pytest.raises(ValidationError) as error:
        CreditApplication.model_validate(spoil(COURSE_EXAMPLE, case))
    assert any(INVALID_CASES[case].field in e["loc"] for e in error.value.errors())
