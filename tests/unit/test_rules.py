"""The application's rules, read from its JSON Schema: a constraint no check implements
stops the import, never a silent pass."""

from __future__ import annotations

import pytest

from credit_risk.rules import FIELD_RULES, UnsupportedRuleError, field_rule
from credit_risk.vocabulary import APPLICATION_FIELDS


def test_every_field_has_its_rule() -> None:
    assert tuple(FIELD_RULES) == APPLICATION_FIELDS
    assert field_rule("age", {"type": "integer", "minimum": 18}).minimum == 18


@pytest.mark.parametrize(
    ("name", "schema"),
    [
        ("age", {"type": "integer", "multipleOf": 2}),
        ("home", {"type": "string", "pattern": "^r"}),
        ("home", {"type": "string", "enum": ["rent"], "minimum": 1}),
        ("income", {"anyOf": [{"type": "number"}, {"type": "string"}, {"type": "null"}]}),
        ("seniority", {"type": "boolean"}),
    ],
)
def test_a_constraint_the_checks_cannot_run_is_an_error(
    name: str, schema: dict[str, object]
) -> None:
    with pytest.raises(UnsupportedRuleError, match=name):
        field_rule(name, schema)
