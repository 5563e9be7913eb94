"""The batch scorer's parts without a server: validation agrees with the API, decisions
agree with ``DecisionMaker.decide``, and the readers survive bad lines and empty files."""

from __future__ import annotations

import itertools
import json
import random
import uuid
from pathlib import Path

import bentoml
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from pydantic import ValidationError

from credit_risk.batch.io import CsvReader, InputError, open_reader
from credit_risk.batch.job import chunk_record_lines
from credit_risk.batch.scorer import BatchScorer, plain
from credit_risk.batch.validation import ColumnsError, validate_chunk
from credit_risk.csv_format import cell_value, describe_errors
from credit_risk.decisions import DecisionMaker, uuid4_strings
from credit_risk.features import application_columns, encode_columns
from credit_risk.generator import INVALID_CASES, spoil
from credit_risk.model.store import load_from_store
from credit_risk.reasons import principal_reasons
from credit_risk.records import application_rows, decision_record, record_line
from credit_risk.rules import FIELD_RULES
from credit_risk.schema import COURSE_EXAMPLE, CreditApplication, application_records
from credit_risk.vocabulary import APPLICATION_FIELDS

HEADER = ",".join(APPLICATION_FIELDS)
ROW_LEVEL_CASES = {
    case: spoiler
    for case, spoiler in INVALID_CASES.items()
    if set(spoil(COURSE_EXAMPLE, case)) == set(APPLICATION_FIELDS)
}
"""Cases that spoil a value; the others (missing, misspelt, extra field) spoil the columns."""

HOSTILE_VALUES = {
    # From test_hostile.py's odd unicode and NaN/Infinity cases.
    "home": ["ówner", "\u202eowner", "ow\u200dner", "", None, 3],
    "marital": ["single\u0000", "Single", None],
    "age": ["\uff12\uff16", float("nan"), float("inf"), -26, 26.0, True, "26", None],
    "income": [float("nan"), float("-inf"), -0.01, 1e9, 1e9 + 1, 0, None, False],
    "debt": [float("inf"), 1e300, "3000", 2**70],
    "seniority": [2**70, -1, 0, 100, 101, 3.5],
    "time": [0, 600, 601, -5],
    "price": [0, 0.0, 1e-300, -1.0, None],
}


def _api_verdict(application: dict[str, object]) -> str | None:
    """What /classify says: None when accepted, else its errors as the batch words them."""
    try:
        CreditApplication.model_validate(application)
    except ValidationError as error:
        return describe_errors(error)
    return None


def _batch_verdicts(rows: list[dict[str, object]], *, from_text: bool) -> list[str | None]:
    if from_text:
        table = pa.table({name: pa.array([r[name] for r in rows], pa.string()) for name in rows[0]})
    else:
        table = pa.Table.from_pylist(rows)
    checked = validate_chunk(table, from_text=from_text)
    return [checked.errors.get(i) if not checked.valid[i] else None for i in range(len(rows))]


@pytest.mark.parametrize("case", ROW_LEVEL_CASES, ids=list(ROW_LEVEL_CASES))
def test_every_invalid_case_gets_the_apis_error(case: str) -> None:
    spoilt = spoil(COURSE_EXAMPLE, case)
    expected = _api_verdict(spoilt)
    assert expected is not None and INVALID_CASES[case].field in expected
    # One column at a time, as a Parquet file would carry it (a column has one type).
    rows = [COURSE_EXAMPLE, spoilt, COURSE_EXAMPLE]
    column = INVALID_CASES[case].field
    table = pa.Table.from_pylist([{k: v for k, v in r.items() if k != column} for r in rows])
    values = [r[column] for r in rows]
    kinds = {type(v) for v in values if v is not None}
    if len(kinds) > 1:  # e.g. "3" among ints: Arrow columns are typed, so the whole column is
        values = [values[1]] * 3
    table = table.append_column(column, pa.array(values))
    checked = validate_chunk(table, from_text=False)
    for row, value in enumerate(values):
        assert checked.errors.get(row) == _api_verdict({**COURSE_EXAMPLE, column: value})


@pytest.mark.parametrize("case", sorted(set(INVALID_CASES) - set(ROW_LEVEL_CASES)))
def test_missing_unknown_or_misspelt_columns_refuse_the_file(case: str) -> None:
    table = pa.Table.from_pylist([spoil(COURSE_EXAMPLE, case)])
    with pytest.raises(ColumnsError, match=INVALID_CASES[case].field):
        validate_chunk(table, from_text=False)


@pytest.mark.parametrize("field", HOSTILE_VALUES)
def test_hostile_values_get_the_apis_verdict(field: str) -> None:
    for value in HOSTILE_VALUES[field]:
        rows = [{**COURSE_EXAMPLE, field: value}]
        try:
            verdicts = _batch_verdicts(rows, from_text=False)
        except (pa.ArrowInvalid, OverflowError):
            continue  # e.g. 2**70: Arrow cannot hold it, so no file can carry it
        assert verdicts == [_api_verdict(rows[0])], (field, value)


TEXT_CELLS = {
    "integer": ["", "0", "-0", "00", "7", "17", "18", "100", "101", "-1", "+3", " 3", "3 ", "3.0",
                "1e1", "1E+2", "NaN", "inf", "0x10", "\uff13", "true", "1_0", "9" * 30, "1" * 15,
                "1" * 16, "26", "36"],
    "number": ["", "0", "0.0", "-0.0", "1e9", "1e9.5", "1000000000", "1000000000.0001", "1e400",
               "-1e-400", ".5", "5.", "1,5", "3000", "3e3", "NaN", "Infinity", "-1", "\uff11",
               "9" * 30, "1e-300", "00.5"],
    "label": ["", "owner", "Owner", " owner", "rent", "3", "unk", "null", "single", "no", "yes",
              "fixed", "freelance", "ówner"],
}  # fmt: skip


def test_csv_cells_get_the_same_verdict_as_the_csv_endpoint() -> None:
    """score.py (pyarrow, vectorised) and /classify_csv (stdlib, one cell at a time) read a
    cell alike, and both agree with pydantic on the value it stands for."""
    rng = random.Random(7)
    example = {name: str(value) for name, value in COURSE_EXAMPLE.items()}
    rows = []
    for name, rule in FIELD_RULES.items():
        for text in TEXT_CELLS[rule.kind]:
            rows.append({**example, name: text})
    for _ in range(3000):  # and many fields spoilt at once
        row = dict(example)
        for name in rng.sample(list(APPLICATION_FIELDS), 3):
            row[name] = rng.choice(TEXT_CELLS[FIELD_RULES[name].kind])
        rows.append(row)
    expected = [_api_verdict({k: cell_value(v) for k, v in row.items()}) for row in rows]
    assert sum(v is None for v in expected) > 50 and sum(v is not None for v in expected) > 1000
    assert _batch_verdicts(rows, from_text=True) == expected


def test_rules_are_read_from_the_schema() -> None:
    assert FIELD_RULES["age"].minimum == 18 and FIELD_RULES["age"].kind == "integer"
    assert FIELD_RULES["amount"].exclusive_minimum == 0 and not FIELD_RULES["amount"].nullable
    assert FIELD_RULES["income"].nullable and FIELD_RULES["income"].kind == "number"
    assert FIELD_RULES["home"].labels[:2] == ("rent", "owner")


@pytest.fixture(scope="module")
def scorer(trained_model: str) -> BatchScorer:
    """The batch scorer on the session's trained model."""
    return BatchScorer(load_from_store(bentoml.models.get(trained_model), nthread=2))


def test_decide_columns_agrees_with_the_policy_and_the_scalar_reasons(
    scorer: BatchScorer, course_frame: pd.DataFrame
) -> None:
    features = encode_columns(course_frame)
    # Some rows outside the training ranges, which the course data never is.
    features[:40, 0] = 1000.0
    features[20:60, 3] = -5.0
    scored = scorer.served.explain(features)
    decider: DecisionMaker = scorer.decider
    many = decider.decide_columns(features, scored).decisions()
    assert len(many) == len(course_frame) == 4454
    for result, batch in zip(scored.tolist(), many, strict=True):
        assert batch.status == decider.policy.status(result[0])
        assert batch.score == decider.policy.scorecard.points(result[0])
        # The vectorised ranking against the plain sort of reasons.principal_reasons.
        assert batch.reasons == principal_reasons(result[1:])
    assert [d.out_of_training_range for d in many[19:21]] == [
        ["seniority"],
        ["seniority", "expenses"],
    ]
    assert {len(d.reasons) for d in many} >= {3, 4}


def test_uuid4_strings_are_unique_version_4_uuids() -> None:
    ids = uuid4_strings(10_000)
    assert len(set(ids)) == 10_000
    parsed = [uuid.UUID(value) for value in ids[:500]]
    assert all(u.version == 4 and u.variant == uuid.RFC_4122 for u in parsed)
    assert [str(u) for u in parsed] == ids[:500]


def test_score_frame_reports_invalid_rows_in_place(
    scorer: BatchScorer, course_frame: pd.DataFrame
) -> None:
    applications = application_records(course_frame.head(50))
    applications[10] = {**applications[10], "age": 17}
    applications[20] = {**applications[20], "home": "mansion"}
    out = scorer.score_frame(pd.DataFrame(applications))
    assert list(out.row_id) == list(range(50))
    assert out.status[10] == out.status[20] == "INVALID"
    assert out.error[10] == "age: Input should be greater than or equal to 18"
    assert out.error[20].startswith("home: Input should be 'rent'")
    assert out.status.drop([10, 20]).isin(["APPROVED", "MAYBE", "DECLINED"]).all()
    assert out.error.drop([10, 20]).isna().all()
    assert out.default_probability[[10, 20]].isna().all()


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(f"{line}\n" for line in lines))
    return path


def _course_lines(frame: pd.DataFrame, count: int) -> list[str]:
    return [
        ",".join("" if row[name] is None else str(row[name]) for name in APPLICATION_FIELDS)
        for row in application_records(frame.head(count))
    ]


def test_a_bad_line_in_the_middle_is_reported_and_the_rest_scored(
    tmp_path: Path, scorer: BatchScorer, course_frame: pd.DataFrame
) -> None:
    lines = _course_lines(course_frame, 3000)
    bad = {700: "1,rent,36", 1500: lines[1500] + ",extra", 2999: "garbage"}
    for index, text in bad.items():
        lines[index] = text
    path = _write(tmp_path / "bad.csv", [HEADER, *lines])
    # Small blocks, so bad lines fall in the middle of a later block too.
    reader = CsvReader(path, block_bytes=64 * 1024)
    decisions = pa.Table.from_batches(
        scorer.score(c.table, c.row_ids, from_text=True, bad_rows=c.bad_rows).decisions
        for c in reader.chunks()
    ).to_pandas()
    assert list(decisions.row_id) == list(range(3000))
    invalid = decisions[decisions.status == "INVALID"]
    assert list(invalid.row_id) == sorted(bad)
    assert invalid.error.tolist() == [
        "line 702: 3 fields where the header has 13",
        "line 1502: 14 fields where the header has 13",
        "line 3001: 1 fields where the header has 13",
    ]
    # Every good row is decided as if the bad lines were not there.
    good = [i for i in range(3000) if i not in bad]
    records = application_records(course_frame.head(3000))
    expected = scorer.score_frame(pd.DataFrame([records[i] for i in good]))
    assert decisions.drop(bad).default_probability.tolist() == pytest.approx(
        expected.default_probability.tolist(), abs=1e-12
    )


def test_empty_and_header_only_files_give_a_clear_answer(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="is empty: expected a header line naming the columns"):
        open_reader(_write(tmp_path / "empty.csv", []))
    header_only = open_reader(_write(tmp_path / "header.csv", [HEADER]))
    assert sum(chunk.table.num_rows for chunk in header_only.chunks()) == 0
    with pytest.raises(InputError, match="missing columns"):
        open_reader(_write(tmp_path / "other.csv", ["a,b", "1,2"]))
    with pytest.raises(InputError, match="unknown format"):
        open_reader(_write(tmp_path / "apps.json", [json.dumps(COURSE_EXAMPLE)]))


def test_typed_and_text_input_decide_alike(scorer: BatchScorer, course_frame: pd.DataFrame) -> None:
    frame = course_frame.head(500)
    typed = scorer.score_frame(pd.DataFrame(application_records(frame)))
    text_table = pa.table(
        {
            name: pa.array(line.split(",")[i] for line in _course_lines(frame, 500))
            for i, name in enumerate(APPLICATION_FIELDS)
        }
    )
    text = plain(scorer.score(text_table, np.arange(500), from_text=True).decisions).to_pandas()
    columns = [c for c in typed.columns if c != "decision_id"]
    pd.testing.assert_frame_equal(typed[columns], text[columns])
    assert list(itertools.islice(typed.decision_id, 3)) != list(
        itertools.islice(text.decision_id, 3)
    )


def test_batch_records_are_the_contracts(scorer: BatchScorer, course_frame: pd.DataFrame) -> None:
    applications = application_records(course_frame.head(300))
    table = pa.Table.from_pylist(applications)
    chunk = scorer.score(table, np.arange(300), from_text=False)
    lines = chunk_record_lines(chunk, endpoint="score.py", latency_ms=1.23456, time="T")
    # As the API records them: from validated applications and Decision objects.
    validated = [CreditApplication.model_validate(a) for a in applications]
    expected = [
        decision_record(a, d.model_dump(), endpoint="score.py", latency_ms=1.23456, time="T")
        for a, d in zip(
            application_rows(application_columns(validated)),
            chunk.decided.decisions(),
            strict=True,
        )
    ]
    parsed = [json.loads(line) for line in lines]
    assert parsed == [json.loads(record_line(record)) for record in expected]
    assert all(list(p) == list(e) for p, e in zip(parsed, expected, strict=True))


def test_huge_integers_in_a_typed_column_are_invalid_not_fatal() -> None:
    rows = [COURSE_EXAMPLE, {**COURSE_EXAMPLE, "seniority": 2**63 - 1}]
    table = pa.Table.from_pylist(rows).set_column(
        0, "seniority", pa.array([3, 2**63 - 1], pa.int64())
    )
    checked = validate_chunk(table, from_text=False)
    assert checked.valid.tolist() == [True, False]
    assert checked.errors[1] == "seniority: Input should be less than or equal to 100"
