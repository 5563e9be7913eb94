"""Every class of bad input gets a 400 that names the field; none gets a 5xx."""

from __future__ import annotations

import httpx
import pytest

from credit_risk.generator import INVALID_CASES, spoil
from credit_risk.schema import COURSE_EXAMPLE

EXPECTED_MESSAGES = {
    "unknown category": "'rent', 'owner'",
    "wrong case category": "'fixed'",
    "string for a number": "valid integer",
    "boolean for a number": "valid number",
    "float for an integer": "valid integer",
    "null category": "'single'",
    "age under 18": "greater than or equal to 18",
    "age over 100": "less than or equal to 100",
    "negative money": "greater than or equal to 0",
    "zero amount": "greater than 0",
    "zero price": "greater than 0",
    "zero term": "greater than 0",
    "absurd money": "less than or equal to",
    "missing field": "Field required",
    "misspelt field": "Extra inputs",
    "unknown extra field": "Extra inputs",
}


def _with(**changes: object) -> dict[str, object]:
    return {**COURSE_EXAMPLE, **changes}


def test_every_invalid_case_has_an_expected_message() -> None:
    assert set(EXPECTED_MESSAGES) == set(INVALID_CASES)


@pytest.mark.parametrize("case", INVALID_CASES, ids=list(INVALID_CASES))
def test_bad_application_is_a_400_naming_the_field(client: httpx.Client, case: str) -> None:
    response = client.post("/classify", json=spoil(COURSE_EXAMPLE, case))
    assert response.status_code == 400, response.text
    details = response.json()["detail"]
    assert any(INVALID_CASES[case].field in detail["loc"] for detail in details), details
    assert EXPECTED_MESSAGES[case] in response.text


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_rejected(client: httpx.Client, literal: str) -> None:
    body = httpx.Request("POST", "/", json=COURSE_EXAMPLE).content.decode()
    body = body.replace('"income":0.0', f'"income":{literal}')
    assert literal in body
    response = client.post("/classify", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text
    assert "income" in response.text


def test_bad_application_inside_a_batch_names_its_index(client: httpx.Client) -> None:
    applications = [COURSE_EXAMPLE, _with(records="maybe"), COURSE_EXAMPLE]
    response = client.post("/classify_batch", json={"applications": applications})
    assert response.status_code == 400
    assert ["applications", 1, "records"] in [d["loc"] for d in response.json()["detail"]]


def test_null_means_not_declared_for_income_assets_debt(client: httpx.Client) -> None:
    response = client.post("/classify", json=_with(income=None, assets=None, debt=None))
    assert response.status_code == 200, response.text
    zero_income = client.post("/classify", json=_with(income=0.0, assets=None, debt=None))
    assert zero_income.json()["default_probability"] == response.json()["default_probability"]
