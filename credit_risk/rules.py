"""The API's validation rules as column-wise checks, read from the schema itself: for
``score.py``'s numpy checks (``batch/validation.py``) and ``/classify_batch``'s
(``serving/batch_body.py``).

Validating a million applications one pydantic model at a time takes ~8.5 µs a
row; ``TypeAdapter`` over whole columns still ~2.3 µs. The rules of
``CreditApplication`` are simple enough to check on numpy arrays in ~0.5 µs a
row (typed columns; CSV text, which first goes through the cell grammar's two
regular expressions per numeric column, ~2.4 µs):
each field's JSON schema (type, bounds, labels, nullability) is read here and
turned into a ``FieldRule``. Any schema keyword this module does not know
raises at import, so a new constraint cannot be silently skipped; the tests
check that the rules agree with pydantic on every hostile case. Rows that fail
are then validated by pydantic itself for the message, which is therefore the
API's word for word.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal

from credit_risk.schema import CreditApplication

Kind = Literal["integer", "number", "label"]

_ANNOTATIONS: Final = frozenset({"title", "description"})
_BOUNDS: Final = frozenset({"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"})


class UnsupportedRuleError(RuntimeError):
    """The schema has a constraint that the column-wise checks do not implement."""


@dataclass(frozen=True)
class FieldRule:
    """What one application field accepts."""

    name: str
    kind: Kind
    nullable: bool = False
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: float | None = None
    exclusive_maximum: float | None = None
    labels: tuple[str, ...] = ()


def field_rule(name: str, schema: dict[str, Any]) -> FieldRule:
    """The rule of one field's JSON Schema; ``UnsupportedRuleError`` for a keyword the
    column-wise checks do not implement."""
    nullable = False
    if "anyOf" in schema:
        branches = schema["anyOf"]
        others = [branch for branch in branches if branch != {"type": "null"}]
        if len(others) != 1 or len(branches) != 2:
            raise UnsupportedRuleError(f"{name}: anyOf {branches}")
        nullable = True
        schema = {**{k: v for k, v in schema.items() if k != "anyOf"}, **others[0]}
    unknown = set(schema) - _ANNOTATIONS - _BOUNDS - {"type", "enum"}
    if unknown:
        raise UnsupportedRuleError(f"{name}: schema keywords {sorted(unknown)}")
    if "enum" in schema:
        if schema.get("type") != "string" or set(schema) & _BOUNDS:
            raise UnsupportedRuleError(f"{name}: enum of {schema.get('type')}")
        return FieldRule(name, "label", nullable, labels=tuple(schema["enum"]))
    kind = schema.get("type")
    if kind not in ("integer", "number"):
        raise UnsupportedRuleError(f"{name}: type {kind}")
    return FieldRule(
        name,
        kind,
        nullable,
        minimum=schema.get("minimum"),
        maximum=schema.get("maximum"),
        exclusive_minimum=schema.get("exclusiveMinimum"),
        exclusive_maximum=schema.get("exclusiveMaximum"),
    )


def field_rules() -> dict[str, FieldRule]:
    """The rule of every application field, in the schema's order."""
    schema = CreditApplication.model_json_schema()
    if schema.get("additionalProperties") is not False:
        raise UnsupportedRuleError("the schema no longer forbids unknown fields")
    if set(schema.get("required", ())) != set(schema["properties"]):
        raise UnsupportedRuleError("optional fields (with defaults) are not supported")
    return {name: field_rule(name, field) for name, field in schema["properties"].items()}


FIELD_RULES: Final = field_rules()
