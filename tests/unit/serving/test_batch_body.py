"""``/classify_batch``'s fast parse: never accepts what pydantic refuses, and gives the
columns pydantic's objects would, on the edge bodies and on drawn and mutated ones."""

from __future__ import annotations

import math
from typing import Any

import bentoml
import numpy as np
import orjson
import pydantic
import pytest
from _bentoml_sdk.io_models import ensure_io_descriptor

from credit_risk.features import application_columns
from credit_risk.generator import INVALID_CASES, ApplicationGenerator, spoil
from credit_risk.model.metadata import ModelMetadata
from credit_risk.schema import COURSE_EXAMPLE, ApplicationBatch
from credit_risk.serving.batch_body import (
    BATCH_RULES,
    BatchBody,
    FieldCheck,
    fast_columns,
    parse_batch,
)
from credit_risk.vocabulary import APPLICATION_FIELDS, CATEGORIES
from tests.support.batch_bodies import edge_bodies

BENTOML_DESCRIPTOR = ensure_io_descriptor(ApplicationBatch)
"""What BentoML makes of ``ApplicationBatch`` for an endpoint's one positional
parameter (``IODescriptor.from_input``): what answered before."""
BENTOML_DESCRIPTOR.__root_input__ = True  # type: ignore[attr-defined]


def _pydantic(body: bytes) -> dict[str, list[Any]] | pydantic.ValidationError:
    """pydantic's columns of ``body``, or its refusal (as BentoML's descriptor)."""
    try:
        reference = application_columns(BENTOML_DESCRIPTOR.model_validate_json(body).applications)
    except pydantic.ValidationError as refused:
        return refused
    plain = application_columns(ApplicationBatch.model_validate_json(body).applications)
    assert _same(plain, reference)
    return reference


def _same(left: dict[str, list[Any]], right: dict[str, list[Any]]) -> bool:
    """Equal columns, value by value and type by type (``800`` is not ``800.0`` here)."""
    return list(left) == list(right) and all(
        [(type(a), a) for a in left[name]] == [(type(b), b) for b in right[name]] for name in left
    )


def _answer(refused: pydantic.ValidationError) -> dict[str, Any]:
    """What BentoML answers for ``refused`` (``_bentoml_impl/server/app.py``)."""
    return {
        "error": f"{refused.error_count()} validation error for {refused.title}",
        "detail": refused.errors(include_context=False, include_input=False),
    }


def _check(body: bytes) -> bool:
    """The fast path against pydantic on one body; whether the fast path accepted it."""
    fast = fast_columns(body)
    verdict = _pydantic(body)
    if isinstance(verdict, pydantic.ValidationError):
        assert fast is None, body[:300]
        with pytest.raises(pydantic.ValidationError) as refused:
            parse_batch(body)
        assert _answer(refused.value) == _answer(verdict)
        return False
    assert _same(parse_batch(body), verdict)
    if fast is not None:
        assert _same(fast, verdict), body[:300]
    return fast is not None


def test_the_descriptor_is_bentomls_own_in_schema_and_name() -> None:
    assert BatchBody.__name__ == BENTOML_DESCRIPTOR.__name__
    assert BatchBody.model_json_schema() == BENTOML_DESCRIPTOR.model_json_schema()
    assert BatchBody.openapi_components("classify_batch") == (
        BENTOML_DESCRIPTOR.openapi_components("classify_batch")
    )


def test_the_rules_are_the_schemas() -> None:
    rules = {rule.name: rule for rule in BATCH_RULES.fields}
    assert tuple(rules) == APPLICATION_FIELDS
    assert (BATCH_RULES.key, BATCH_RULES.min_items, BATCH_RULES.max_items) == (
        "applications",
        1,
        1000,
    )
    assert rules["age"] == FieldCheck("age", frozenset({int}), low=18, high=100)
    assert rules["time"] == FieldCheck(
        "time", frozenset({int}), low=0, low_inclusive=False, high=600
    )
    assert rules["income"].types == {int, float, type(None)}
    assert rules["amount"].types == {int, float}
    assert not rules["amount"].low_inclusive
    assert rules["home"].labels == set(CATEGORIES["home"])


def test_edge_bodies_agree_with_pydantic() -> None:
    bodies = edge_bodies()
    accepted = [name for name, body in bodies.items() if _check(body)]
    # The valid edges the fast path takes itself: integers for money, the bounds.
    assert "amount: an integer" in accepted
    assert "age: at its bound (100)" in accepted
    assert "income: null" in accepted


@pytest.fixture(scope="module")
def generator(trained_model: str) -> ApplicationGenerator:
    """Applications drawn from the trained model's reference."""
    metadata = ModelMetadata.model_validate(bentoml.models.get(trained_model).info.metadata)
    return ApplicationGenerator(metadata.reference, seed=3)


MUTATIONS: list[Any] = [
    True,
    False,
    None,
    "3",
    "",
    0,
    -0.0,
    0.0,
    1,
    -1,
    17,
    18,
    100,
    101,
    600,
    601,
    1e9,
    1000000000,
    1000000001,
    1e9 + 0.5,
    5e-324,
    2.5,
    26.0,
    2**63,
    [1],
    {"a": 1},
    "owner",
    "rent",
    "unk",
    "Owner",
]


def test_drawn_and_mutated_applications_agree_with_pydantic(
    generator: ApplicationGenerator,
) -> None:
    rng = np.random.default_rng(7)
    accepted = 0
    for round_ in range(60):
        applications = generator.draw(int(rng.integers(1, 40)))
        if round_ % 3:
            for _ in range(int(rng.integers(1, 4))):
                row = int(rng.integers(len(applications)))
                name = APPLICATION_FIELDS[int(rng.integers(len(APPLICATION_FIELDS)))]
                applications[row] = {
                    **applications[row],
                    name: MUTATIONS[int(rng.integers(len(MUTATIONS)))],
                }
        if round_ % 5 == 0:
            case = list(INVALID_CASES)[round_ % len(INVALID_CASES)]
            applications[0] = spoil(applications[0], case)
        accepted += _check(orjson.dumps({"applications": applications}))
    assert accepted > 10  # the fast path did take many


def test_long_and_odd_number_literals_agree_with_pydantic() -> None:
    rng = np.random.default_rng(11)
    for _ in range(300):
        digits = "".join(map(str, rng.integers(0, 10, size=int(rng.integers(1, 30)))))
        literal = rng.choice([f"0.{digits}", f"{digits[:9]}.{digits[9:] or 0}", f"{digits}e-20"])
        body = orjson.dumps({"applications": [{**COURSE_EXAMPLE, "debt": "@"}]})
        _check(body.replace(b'"@"', str(literal).encode()))


def test_a_batch_at_the_most_is_taken_by_the_fast_path() -> None:
    body = orjson.dumps({"applications": [COURSE_EXAMPLE] * BATCH_RULES.max_items})
    columns = fast_columns(body)
    assert columns is not None
    assert columns["amount"][0] == 800.0 and type(columns["amount"][0]) is float
    assert math.isclose(sum(columns["expenses"]), 35_000)
