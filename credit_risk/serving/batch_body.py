"""``POST /classify_batch``'s request body, parsed column-wise, refused exactly as before.

BentoML validated the body into an ``ApplicationBatch``: 13,000 pydantic values for
1,000 applications, 9 ms, then a pass over the objects for their columns.
``fast_columns`` reads the body with ``orjson`` and checks it a column at a time
(exact key sets, types by ``type``, ranges by ``min`` and ``max``, labels by set
inclusion) against rules read from the schema's own JSON Schema (``BATCH_RULES``). It
accepts only what pydantic accepts, with the values pydantic would hold (an integer
in a money field becomes a float); anything else, it leaves to pydantic
(``parse_batch``), so a refused body gets BentoML's answer, byte for byte
(``tests/e2e/test_batch_body.py``).

``BatchBody`` is the endpoint's input spec: BentoML's own descriptor of
``ApplicationBatch`` (the same name, schema and API document) with the parse above.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import orjson
from _bentoml_impl.serde import JSONSerde
from _bentoml_sdk.io_models import IOMixin
from pydantic import PrivateAttr

from credit_risk.features import application_columns
from credit_risk.rules import FIELD_RULES, FieldRule
from credit_risk.schema import ApplicationBatch, CreditApplication
from credit_risk.vocabulary import APPLICATION_FIELDS

if TYPE_CHECKING:
    from starlette.requests import Request

Columns = dict[str, list[Any]]
"""Applications column-wise, as ``features.application_columns`` gives them."""

_NONE: Final = type(None)
_DECORATOR_KINDS: Final = (
    "validators",
    "field_validators",
    "root_validators",
    "model_validators",
)


def _first(*values: float | None) -> float:
    return next(value for value in values if value is not None)  # the last is never None


@dataclass(frozen=True)
class FieldCheck:
    """What an application field accepts, as Python values ``orjson`` gives: its
    ``credit_risk.rules.FieldRule`` (read from the schema, as the batch validation's)."""

    name: str
    types: frozenset[type]
    """The Python types ``orjson`` may give a valid value (never ``bool``)."""
    labels: frozenset[str] | None = None
    low: float = -math.inf
    low_inclusive: bool = True
    high: float = math.inf
    high_inclusive: bool = True

    @classmethod
    def of(cls, rule: FieldRule) -> FieldCheck:
        """The check of ``rule``."""
        if rule.kind == "label":
            # Only labels: a null in a nullable label field goes to pydantic.
            return cls(rule.name, frozenset({str}), labels=frozenset(rule.labels))
        # An integer is a valid number: pydantic makes it a float (``fast_columns``).
        types = {int} if rule.kind == "integer" else {int, float}
        if rule.nullable:
            types.add(_NONE)
        return cls(
            rule.name,
            frozenset(types),
            low=_first(rule.exclusive_minimum, rule.minimum, -math.inf),
            low_inclusive=rule.exclusive_minimum is None,
            high=_first(rule.exclusive_maximum, rule.maximum, math.inf),
            high_inclusive=rule.exclusive_maximum is None,
        )

    def take(self, values: list[Any]) -> list[Any] | None:
        """``values`` (as ``orjson`` parsed them) as pydantic holds them (an integer in
        a number field as a float) if pydantic accepts every one; else ``None``."""
        if self.labels is not None:
            # An unhashable value (a list, an object) raises TypeError: the caller refuses.
            return values if set(values) <= self.labels else None
        types = set(map(type, values))
        if not types <= self.types:
            return None
        numbers = [value for value in values if value is not None] if _NONE in types else values
        if numbers and not self._in_range(min(numbers), max(numbers)):
            return None
        if int in types and float in self.types:
            return [float(value) if type(value) is int else value for value in values]
        return values

    def _in_range(self, low: float, high: float) -> bool:
        above = low >= self.low if self.low_inclusive else low > self.low
        below = high <= self.high if self.high_inclusive else high < self.high
        return above and below


@dataclass(frozen=True)
class BatchRules:
    """What an ``ApplicationBatch`` body accepts, read from its JSON Schema."""

    key: str
    """The top level's one field: ``applications``."""
    min_items: int
    max_items: int
    fields: tuple[FieldCheck, ...]
    """One per application field, in ``APPLICATION_FIELDS`` order."""

    @classmethod
    def of_schema(cls) -> BatchRules:
        """The rules of ``ApplicationBatch`` and ``CreditApplication``; an error if the
        models hold anything the fast path cannot check."""
        for model in (ApplicationBatch, CreditApplication):
            decorators = model.__pydantic_decorators__
            if any(getattr(decorators, kind) for kind in _DECORATOR_KINDS):
                raise ValueError(f"{model.__name__} has validators the fast path cannot run")
            if model.model_config.get("extra") != "forbid":
                raise ValueError(f"{model.__name__} must forbid extra fields")
        batch = ApplicationBatch.model_json_schema()
        (key,) = batch["properties"]
        items = batch["properties"][key]
        if batch["required"] != [key] or items["items"] != {"$ref": "#/$defs/CreditApplication"}:
            raise ValueError(f"unsupported batch schema {batch}")
        application = CreditApplication.model_json_schema()
        if (
            tuple(application["properties"]) != APPLICATION_FIELDS
            or tuple(application["required"]) != APPLICATION_FIELDS
        ):
            raise ValueError("every application field must be required")
        return cls(
            key=key,
            min_items=items["minItems"],
            max_items=items["maxItems"],
            fields=tuple(FieldCheck.of(FIELD_RULES[name]) for name in APPLICATION_FIELDS),
        )


BATCH_RULES: Final = BatchRules.of_schema()
_GETTERS: Final = tuple(operator.itemgetter(name) for name in APPLICATION_FIELDS)


def _applications(body: bytes) -> list[Any] | None:
    """The body's ``applications`` list if the body is a JSON object with that one key
    and a list of an accepted length; else ``None``."""
    try:
        batch = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    rules = BATCH_RULES
    if type(batch) is not dict or len(batch) != 1:
        return None
    applications = batch.get(rules.key)
    if type(applications) is not list:
        return None
    return applications if rules.min_items <= len(applications) <= rules.max_items else None


def fast_columns(body: bytes) -> Columns | None:
    """The applications of a body that pydantic accepts, column-wise, with pydantic's
    values, or ``None`` when this cannot tell (``parse_batch`` then asks pydantic)."""
    applications = _applications(body)
    if applications is None:
        return None
    columns: Columns = {}
    try:
        # With all 13 fields present, 13 keys means no other: a JSON object's keys are
        # unique.
        if set(map(len, applications)) != {len(_GETTERS)}:
            return None
        for rule, getter in zip(BATCH_RULES.fields, _GETTERS, strict=True):
            # A missing field raises KeyError; an application that is not an object,
            # TypeError.
            values = rule.take(list(map(getter, applications)))
            if values is None:
                return None
            columns[rule.name] = values
    except (KeyError, TypeError):
        return None
    return columns


class ApplicationBatchIODescriptor(IOMixin, ApplicationBatch):
    # Named as BentoML names the descriptor it makes of ApplicationBatch, and with no
    # docstring, as it has none: the API document and every refusal's text
    # ("1 validation error for ApplicationBatchIODescriptor") stay what they were.
    _columns: Columns | None = PrivateAttr(default=None)

    @classmethod
    async def from_http_request(cls, request: Request, serde: Any) -> Any:
        """The body parsed by ``parse_batch`` (BentoML's own parse for another serde)."""
        if not isinstance(serde, JSONSerde):
            return await super().from_http_request(request, serde)
        parsed = cls.model_construct()
        parsed._columns = parse_batch(await request.body())
        return parsed

    @property
    def columns(self) -> Columns:
        """The applications column-wise (``features.application_columns``)."""
        if self._columns is None:
            return application_columns(self.applications)
        return self._columns


BatchBody = ApplicationBatchIODescriptor
# The endpoint receives the descriptor itself, as it received BentoML's.
BatchBody.__root_input__ = True  # type: ignore[attr-defined]


def parse_batch(body: bytes) -> Columns:
    """The applications of a ``/classify_batch`` body, column-wise.

    Raises:
        pydantic.ValidationError: the body is not a valid ``ApplicationBatch``; it is
            BentoML's error (its descriptor's), which BentoML answers with 400.
    """
    columns = fast_columns(body)
    if columns is not None:
        return columns
    # BentoML's own parse: an empty body is read as {} (the guard refuses those first).
    batch = BatchBody.model_validate_json(body or b"{}")
    return application_columns(batch.applications)
