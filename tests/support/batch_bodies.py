"""``/classify_batch`` bodies at the edges of what it accepts, most of them refused, one
of every way a body can be refused: shared by the fast parser's unit tests and the e2e
test that compares the server's answers with those recorded from the service before the
parser existed (``batch_refusals.json``).

Every body is bytes, built deterministically: a refusal's text names indices and
fields, so the corpus must not change between a recording and a comparison.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import orjson

from credit_risk.schema import COURSE_EXAMPLE, MAX_BATCH_SIZE
from credit_risk.vocabulary import APPLICATION_FIELDS

RECORDED_ANSWERS: Final = Path(__file__).with_name("batch_refusals.json")
"""``{name: {"status": int, "body": str}}``: what the service answered each edge body
before ``/classify_batch`` parsed its own (``record_answers`` wrote it); the body of a
200 is left out (its decision ids are random)."""

_UNDECLARED: Final[dict[str, Any]] = {**COURSE_EXAMPLE, "income": None, "assets": None}
_VALID: Final[list[dict[str, Any]]] = [COURSE_EXAMPLE, _UNDECLARED, COURSE_EXAMPLE]


def _batch(middle: Any) -> bytes:
    """Three applications, the middle one replaced: a refusal must name index 1."""
    return orjson.dumps({"applications": [_VALID[0], middle, _VALID[2]]})


def _field(name: str, value: Any) -> bytes:
    return _batch({**_UNDECLARED, name: value})


def _literal(name: str, literal: str) -> bytes:
    """The middle application with ``name`` written as the raw JSON ``literal``."""
    marker = "__literal__"
    return _field(name, marker).replace(f'"{marker}"'.encode(), literal.encode())


def _without(name: str) -> bytes:
    return _batch({key: value for key, value in _UNDECLARED.items() if key != name})


_WRONG_VALUES: Final[dict[str, Any]] = {
    "a string": "3",
    "true": True,
    "false": False,
    "null": None,
    "a list": [1],
    "an object": {"value": 1},
    "a float": 26.5,
    "an integral float": 26.0,
    "an integer": 7,
    "an empty string": "",
}


def edge_bodies() -> dict[str, bytes]:
    """Every edge body by name: wrong types per field, bools, strings for numbers, NaN
    and Infinity, unknown, missing and duplicated fields, bad labels, values out of
    range, an empty list, 1,001 applications, bodies that are not JSON, top levels
    other than the batch object; and a few valid ones (an integer for money, a bound)."""
    bodies: dict[str, bytes] = {}
    for name in APPLICATION_FIELDS:
        for kind, value in _WRONG_VALUES.items():
            bodies[f"{name}: {kind}"] = _field(name, value)
        bodies[f"{name}: missing"] = _without(name)
    for literal in ("NaN", "Infinity", "-Infinity", "1e400", "-1e400", "01", ".5", "1.", "+1"):
        bodies[f"income: {literal}"] = _literal("income", literal)
    for literal in ("18446744073709551616", "-9223372036854775809", "1e2", "-1"):
        bodies[f"age: {literal}"] = _literal("age", literal)
    out_of_range = {
        "seniority": (-1, 101),
        "time": (0, 601),
        "age": (17, 101),
        "expenses": (-0.01, 1e9 + 1),
        "income": (-1, 2e9),
        "assets": (-1e-300, 1000000001),
        "debt": (-5, 1e300),
        "amount": (0.0, 1000000000.5),
        "price": (-0.0, 1e10),
    }
    for name, (low, high) in out_of_range.items():
        bodies[f"{name}: below ({low})"] = _field(name, low)
        bodies[f"{name}: above ({high})"] = _field(name, high)
    bodies["amount: zero integer"] = _field("amount", 0)
    for name, value in (("age", 18), ("age", 100), ("time", 600), ("amount", 1e9), ("debt", 0)):
        bodies[f"{name}: at its bound ({value})"] = _field(name, value)
    for name, label in (("home", "mansion"), ("job", "Fixed"), ("marital", "SINGLE")):
        bodies[f"{name}: bad label {label}"] = _field(name, label)
    bodies["records: label with a space"] = _field("records", "no ")
    bodies["unknown field"] = _batch({**_UNDECLARED, "ssn": "000-00-0000"})
    bodies["misspelt field"] = _batch(
        {("senority" if key == "seniority" else key): value for key, value in _UNDECLARED.items()}
    )
    bodies["several errors in several applications"] = orjson.dumps(
        {
            "applications": [
                {**COURSE_EXAMPLE, "age": 5},
                COURSE_EXAMPLE,
                {**COURSE_EXAMPLE, "home": "castle", "amount": True},
            ]
        }
    )
    duplicate = orjson.dumps({**_UNDECLARED, "age": 30}).replace(b'"age":30', b'"age":30,"age":5')
    bodies["duplicate field, the last out of range"] = b'{"applications":[' + duplicate + b"]}"
    bodies["duplicate applications, the last bad"] = (
        b'{"applications":'
        + orjson.dumps(_VALID)
        + b',"applications":'
        + orjson.dumps([{**COURSE_EXAMPLE, "job": "astronaut"}])
        + b"}"
    )
    bodies["application: null"] = _batch(None)
    bodies["application: a list"] = _batch(list(COURSE_EXAMPLE.values()))
    bodies["application: a string"] = _batch("application")
    bodies["application: a number"] = _batch(1)
    bodies["application: empty object"] = _batch({})
    bodies["empty list"] = b'{"applications":[]}'
    bodies[f"{MAX_BATCH_SIZE + 1} applications"] = orjson.dumps(
        {"applications": [COURSE_EXAMPLE] * (MAX_BATCH_SIZE + 1)}
    )
    bodies["applications: null"] = b'{"applications":null}'
    bodies["applications: an object"] = orjson.dumps({"applications": COURSE_EXAMPLE})
    bodies["applications: a string"] = b'{"applications":"all of them"}'
    bodies["no applications"] = b"{}"
    bodies["unknown top-level field"] = orjson.dumps({"applications": _VALID, "batch_id": 7})
    bodies["top level: a list"] = orjson.dumps(_VALID)
    bodies["top level: an application"] = orjson.dumps(COURSE_EXAMPLE)
    bodies["top level: null"] = b"null"
    bodies["top level: a number"] = b"1"
    bodies["top level: a string"] = b'"applications"'
    bodies["not JSON: text"] = b"not json"
    bodies["not JSON: cut short"] = orjson.dumps({"applications": _VALID})[:-7]
    bodies["not JSON: trailing comma"] = orjson.dumps({"applications": _VALID})[:-2] + b",]}"
    bodies["not JSON: trailing garbage"] = orjson.dumps({"applications": _VALID}) + b"x"
    bodies["not JSON: single quotes"] = b"{'applications': []}"
    bodies["not UTF-8"] = _field("home", "owner").replace(b'"owner"', b'"own\xff"')
    bodies["byte-order mark"] = b"\xef\xbb\xbf" + orjson.dumps({"applications": _VALID})
    return bodies


def record_answers(url: str, path: Path = RECORDED_ANSWERS) -> None:
    """POST every edge body to the service at ``url`` and write its answers to ``path``:
    run once against the service whose refusals are the reference."""
    import httpx

    answers: dict[str, dict[str, Any]] = {}
    with httpx.Client(base_url=url, timeout=60) as client:
        for name, body in edge_bodies().items():
            response = client.post(
                "/classify_batch", content=body, headers={"content-type": "application/json"}
            )
            answers[name] = {
                "status": response.status_code,
                "body": None if response.status_code == 200 else response.text,
            }
    path.write_bytes(orjson.dumps(answers, option=orjson.OPT_INDENT_2) + b"\n")
