"""Every class of bad input gets a 400 that names the field; none gets a 5xx."""

from __future__ import annotations

import httpx
import pytest

from credit_risk.schema import COURSE_EXAMPLE


def _with(**changes: object) -> dict[str, object]:
    return {**COURSE_EXAMPLE, **changes}


def _without(field: str) -> dict[str, object]:
    return {k: v for k, v in COURSE_EXAMPLE.items() if k != field}


BAD_APPLICATIONS = {
    "unknown category": (_with(home="mansion"), "home", "'rent', 'owner'"),
    "wrong case category": (_with(job="Fixed"), "job", "'fixed'"),
    "string for a number": (_with(seniority="3"), "seniority", "valid integer"),
    "boolean for a number": (_with(amount=True), "amount", "valid number"),
    "float for an integer": (_with(age=26.5), "age", "valid integer"),
    "null category": (_with(marital=None), "marital", "'single'"),
    "age under 18": (_with(age=17), "age", "greater than or equal to 18"),
    "age over 100": (_with(age=101), "age", "less than or equal to 100"),
    "negative money": (_with(assets=-1.0), "assets", "greater than or equal to 0"),
    "zero amount": (_with(amount=0), "amount", "greater than 0"),
    "zero price": (_with(price=0.0), "price", "greater than 0"),
    "zero term": (_with(time=0), "time", "greater than 0"),
    "absurd money": (_with(debt=1e300), "debt", "less than or equal to"),
    "missing field": (_without("price"), "price", "Field required"),
    "misspelt field": ({**_without("seniority"), "senority": 3}, "senority", "Extra inputs"),
    "unknown extra field": (_with(ssn="000-00-0000"), "ssn", "Extra inputs"),
}


@pytest.mark.parametrize("case", BAD_APPLICATIONS, ids=list(BAD_APPLICATIONS))
def test_bad_application_is_a_400_naming_the_field(client: httpx.Client, case: str) -> None:
    body, field, message = BAD_APPLICATIONS[case]
    response = client.post("/classify", json=body)
    assert response.status_code == 400, response.text
    details = response.json()["detail"]
    assert any(field in detail["loc"] for detail in details), details
    assert message in response.text


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
