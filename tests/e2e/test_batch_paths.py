"""Every way to score a portfolio gives the same decisions: /classify_batch, /classify_csv,
score.py on CSV and on Parquet, and score.py --spark in local mode; and score.py's
command line (records, exit codes, empty files) behaves as a user needs."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from credit_risk.csv_format import DECISION_COLUMNS
from credit_risk.records import read_records
from credit_risk.schema import COURSE_EXAMPLE, MAX_BATCH_SIZE, MAX_REASONS, application_records
from credit_risk.training.recipes import course_split
from credit_risk.vocabulary import APPLICATION_FIELDS
from tests.support.servers import ROOT, Server

ROWS = 300
SPOILT = {40: {"age": 17}, 41: {"home": "mansion"}, 250: {"price": 0}}
"""Rows of the portfolio made invalid, and how."""
CSV = {"content-type": "text/csv"}


def _csv_text(applications: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=APPLICATION_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: "" if v is None else v for k, v in a.items()} for a in applications)
    return out.getvalue()


@pytest.fixture(scope="module")
def applications(course_frame: pd.DataFrame) -> list[dict[str, Any]]:
    """300 applications of the course's test split, three of them spoilt."""
    rows = application_records(course_split(course_frame)[1].head(ROWS))
    for index, change in SPOILT.items():
        rows[index] = {**rows[index], **change}
    return rows


@pytest.fixture(scope="module")
def valid_applications(applications: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The portfolio without its spoilt rows, as the JSON API can take it."""
    return [a for i, a in enumerate(applications) if i not in SPOILT]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory, applications: list[dict[str, Any]]) -> Path:
    """The portfolio as portfolio.csv and portfolio.parquet."""
    folder = tmp_path_factory.mktemp("portfolio")
    (folder / "portfolio.csv").write_text(_csv_text(applications))
    pq.write_table(pa.Table.from_pylist(applications), folder / "portfolio.parquet")
    return folder


def score_cli(
    *args: str, records: Path | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run score.py as a user would, with records to ``records``."""
    env = {**os.environ, "COLUMNS": "200"}
    if records is not None:
        env["CREDIT_RISK_MONITORING_DIR"] = str(records)
    return subprocess.run(
        [sys.executable, str(ROOT / "score.py"), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=env,
    )


def _read(path: Path) -> pd.DataFrame:
    if path.is_dir():  # Spark writes a folder of parts
        parts = sorted(path.glob("part-*"))
        frames = [
            pd.read_csv(p, keep_default_na=False) if p.suffix == ".csv" else pd.read_parquet(p)
            for p in parts
        ]
        return pd.concat(frames, ignore_index=True).sort_values("row_id", ignore_index=True)
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    return pd.read_csv(path, keep_default_na=False)


@pytest.fixture(scope="module")
def local_runs(trained_model: str, inputs: Path) -> dict[str, Any]:
    """score.py on the CSV and on the Parquet portfolio; their outputs and records folders."""
    runs: dict[str, Any] = {}
    for kind in ("csv", "parquet"):
        records = inputs / f"records-{kind}"
        output = inputs / f"decisions.{kind}"
        result = score_cli(str(inputs / f"portfolio.{kind}"), "-o", str(output), records=records)
        assert result.returncode == 0, result.stdout + result.stderr
        runs[kind] = {"frame": _read(output), "records": records, "log": result.stderr}
    return runs


def _comparable(decisions: list[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
    """What must be identical whichever path decided: status, score, reason codes."""
    rows = []
    for d in decisions:
        if "reasons" in d:
            codes = [r["code"] for r in d["reasons"]]
        else:
            codes = [d[f"reason_{k}_code"] for k in range(1, MAX_REASONS + 1)]
            codes = [c for c in codes if isinstance(c, str) and c]
        rows.append((d["status"], int(d["score"]), codes))
    return rows


def _assert_same(expected: list[Mapping[str, Any]], actual: list[Mapping[str, Any]]) -> None:
    assert len(expected) == len(actual)
    assert _comparable(actual) == _comparable(expected)
    assert [float(d["default_probability"]) for d in actual] == pytest.approx(
        [float(d["default_probability"]) for d in expected], abs=1e-6
    )


def _decided(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return frame[frame.status != "INVALID"].to_dict(orient="records")


def test_local_csv_and_parquet_runs_agree_and_report_invalid_rows(
    local_runs: dict[str, Any],
) -> None:
    for run in local_runs.values():
        frame = run["frame"]
        assert list(frame.columns) == list(DECISION_COLUMNS)
        assert frame.row_id.tolist() == list(range(ROWS))
        invalid = frame[frame.status == "INVALID"]
        assert invalid.row_id.tolist() == sorted(SPOILT)
        assert invalid.error.tolist() == [
            "age: Input should be greater than or equal to 18",
            "home: Input should be 'rent', 'owner', 'private', 'ignore', 'parents', 'other' "
            "or 'unk'",
            "price: Input should be greater than 0",
        ]
        assert "INVALID" in run["log"] and f"{ROWS:,}" in run["log"]
    _assert_same(_decided(local_runs["csv"]["frame"]), _decided(local_runs["parquet"]["frame"]))


def test_worker_processes_give_the_same_decisions(inputs: Path, local_runs: dict[str, Any]) -> None:
    output = inputs / "decisions-workers.parquet"
    records = inputs / "records-workers"
    result = score_cli(
        str(inputs / "portfolio.parquet"), "-o", str(output), "--workers", "2", records=records
    )
    assert result.returncode == 0, result.stdout + result.stderr
    frame = _read(output)
    assert frame.row_id.tolist() == list(range(ROWS))
    assert frame.error.tolist() == local_runs["parquet"]["frame"].error.tolist()
    _assert_same(_decided(local_runs["parquet"]["frame"]), _decided(frame))
    recorded = {r["decision_id"] for r in read_records(records).records}
    assert recorded == set(frame.decision_id.dropna())


def test_every_decision_has_its_record(local_runs: dict[str, Any]) -> None:
    for run in local_runs.values():
        decided = _decided(run["frame"])
        read = read_records(run["records"])
        assert read.skipped == 0
        assert {r["decision_id"] for r in read.records} == {d["decision_id"] for d in decided}
        assert {r["endpoint"] for r in read.records} == {"score.py"}
        first = next(r for r in read.records if r["decision_id"] == decided[0]["decision_id"])
        assert first["status"] == decided[0]["status"] and first["score"] == int(
            decided[0]["score"]
        )
        assert [r["code"] for r in first["reasons"]] == _comparable(decided[:1])[0][2]


def test_http_batch_and_csv_give_the_local_decisions(
    server: Server,
    client: httpx.Client,
    local_runs: dict[str, Any],
    applications: list[dict[str, Any]],
    valid_applications: list[dict[str, Any]],
) -> None:
    local = _decided(local_runs["csv"]["frame"])
    batch = client.post("/classify_batch", json={"applications": valid_applications})
    assert batch.status_code == 200, batch.text
    _assert_same(local, batch.json()["decisions"])

    response = client.post("/classify_csv", content=_csv_text(valid_applications), headers=CSV)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    answered = pd.read_csv(io.StringIO(response.text), keep_default_na=False)
    assert list(answered.columns) == list(DECISION_COLUMNS)
    assert answered.row_id.tolist() == list(range(len(valid_applications)))
    _assert_same(local, answered.to_dict(orient="records"))
    # Their records are written, under the CSV endpoint's name.
    recorded = {r["decision_id"]: r for r in read_records(server.monitoring_dir).records}
    assert all(recorded[i]["endpoint"] == "/classify_csv" for i in answered.decision_id)

    # With the spoilt rows, the CSV endpoint refuses the body, naming lines and columns.
    refused = client.post("/classify_csv", content=_csv_text(applications), headers=CSV)
    assert refused.status_code == 400
    assert [d["loc"] for d in refused.json()["detail"]] == [
        [42, "age"],
        [43, "home"],
        [252, "price"],
    ]
    assert "line 42, column 'age': Input should be greater than or equal to 18" in refused.text


def test_classify_csv_keeps_order_up_to_its_row_cap(
    client: httpx.Client, valid_applications: list[dict[str, Any]]
) -> None:
    many = (valid_applications * 6)[:MAX_BATCH_SIZE]
    response = client.post("/classify_csv", content=_csv_text(many), headers=CSV)
    assert response.status_code == 200, response.text
    answered = pd.read_csv(io.StringIO(response.text), keep_default_na=False)
    assert len(answered) == len(many)
    period = answered.default_probability[: len(valid_applications)].tolist()
    assert answered.default_probability.tolist() == (period * 6)[: len(many)]


BAD_BODIES = {
    "no header": ("3,owner,36,26,single,no,freelance,35,0,60000,3000,800,1000\n", [1]),
    "header only": (",".join(APPLICATION_FIELDS) + "\n", [1]),
    "short line": (",".join(APPLICATION_FIELDS) + "\n1,rent\n", [2]),
    "unclosed quote": (",".join(APPLICATION_FIELDS) + '\n"3,owner\n', [2]),
    "string for a number": (
        ",".join(APPLICATION_FIELDS)
        + "\nthree,owner,36,26,single,no,freelance,35,0,1,1,800,1000\n",
        [2, "seniority"],
    ),
}


@pytest.mark.parametrize("case", BAD_BODIES, ids=list(BAD_BODIES))
def test_bad_csv_is_a_400_naming_line_and_column(client: httpx.Client, case: str) -> None:
    body, loc = BAD_BODIES[case]
    response = client.post("/classify_csv", content=body, headers=CSV)
    assert response.status_code == 400, response.text
    assert response.json()["detail"][0]["loc"] == loc
    assert response.json()["error"].startswith(f"Invalid CSV: line {loc[0]}")


def test_classify_csv_takes_csv_only_and_is_declared(client: httpx.Client) -> None:
    as_json = client.post("/classify_csv", json=COURSE_EXAMPLE)
    assert as_json.status_code == 415
    assert "Content-Type must be text/csv" in as_json.json()["error"]
    csv_elsewhere = client.post("/classify", content="a,b\n", headers=CSV)
    assert csv_elsewhere.status_code == 415
    empty = client.post("/classify_csv", content=b"", headers=CSV)
    assert empty.status_code == 400 and "CSV with a header line" in empty.json()["error"]
    too_big = client.post("/classify_csv", content=b"x" * (1_048_576 + 1), headers=CSV)
    assert too_big.status_code == 413
    operation = client.get("/docs.json").json()["paths"]["/classify_csv"]["post"]
    assert list(operation["requestBody"]["content"]) == ["text/csv"]
    assert list(operation["responses"]["200"]["content"]) == ["text/csv"]
    assert "Content-Type other than text/csv" in operation["responses"]["415"]["description"]


def test_cli_exit_codes_and_messages(trained_model: str, tmp_path: Path, inputs: Path) -> None:
    header = ",".join(APPLICATION_FIELDS) + "\n"
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "header.csv").write_text(header)
    out = str(tmp_path / "out.csv")
    records = tmp_path / "records"
    cases = [
        ((str(tmp_path / "missing.csv"), "-o", out), 2, "no such file"),
        ((str(tmp_path / "empty.csv"), "-o", out), 2, "is empty: expected a header line"),
        ((str(inputs / "portfolio.csv"), "-o", str(tmp_path / "out.xlsx")), 2, "unknown format"),
        ((str(inputs / "portfolio.csv"), "-o", out, "--model", "credit_risk_model:nope"), 3,
         "is not in the model store"),
        ((str(inputs / "portfolio.csv"), "-o", out, "--records-dir", str(inputs / "portfolio.csv")),
         4, "--records-dir"),
        ((str(inputs / "portfolio.csv"),), 2, "no output file"),
    ]  # fmt: skip
    for args, code, message in cases:
        result = score_cli(*args, records=records)
        assert result.returncode == code, (args, result.stdout, result.stderr)
        assert message in " ".join(result.stderr.split()), (args, result.stderr)
    header_only = score_cli(str(tmp_path / "header.csv"), "-o", out, records=records)
    assert header_only.returncode == 0, header_only.stderr
    assert "has a header but no applications" in " ".join(header_only.stderr.split())
    assert Path(out).read_text().splitlines() == [",".join(f'"{c}"' for c in DECISION_COLUMNS)]


def test_spark_local_mode_gives_the_local_decisions(
    java: None, trained_model: str, inputs: Path, local_runs: dict[str, Any]
) -> None:
    """One local[2] session on the CSV portfolio, the bad rows included."""
    lines = (inputs / "portfolio.csv").read_text().splitlines()
    lines[100] = "1,rent,36"  # a short line in the middle
    (inputs / "portfolio-bad.csv").write_text("\n".join(lines) + "\n")
    output = inputs / "spark-decisions.csv"
    records = inputs / "records-spark"
    result = score_cli(
        "--spark",
        "--master",
        "local[2]",
        str(inputs / "portfolio-bad.csv"),
        "-o",
        str(output),
        records=records,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr[-5000:]
    spark = _read(output)
    assert len(spark) == ROWS
    local = local_runs["csv"]["frame"]
    bad = spark.iloc[99]
    assert bad.status == "INVALID" and bad.error.startswith("malformed line: 3 fields")
    keep = [i for i in range(ROWS) if i != 99]
    assert spark.status[list(SPOILT)].eq("INVALID").all()
    assert spark.error[list(SPOILT)].tolist() == local.error[list(SPOILT)].tolist()
    _assert_same(_decided(local.iloc[keep]), _decided(spark.iloc[keep]))
    recorded = {r["decision_id"] for r in read_records(records).records}
    assert recorded >= set(spark.decision_id[spark.status != "INVALID"])


def test_generator_command_writes_valid_portfolios(trained_model: str, tmp_path: Path) -> None:
    written = {}
    for name in ("a.parquet", "b.parquet", "c.csv"):
        seed = "1" if name != "b.parquet" else "2"
        result = subprocess.run(
            [sys.executable, "-m", "credit_risk.generator", "--rows", "1500", "--seed", seed,
             "-o", str(tmp_path / name)],
            cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        written[name] = _read(tmp_path / name)
    assert all(len(frame) == 1500 for frame in written.values())
    assert list(written["a.parquet"].columns) == list(APPLICATION_FIELDS)
    assert not written["a.parquet"].equals(written["b.parquet"])  # another seed
    csv_frame = pd.read_csv(tmp_path / "c.csv")  # the same seed as a.parquet
    pd.testing.assert_frame_equal(csv_frame, written["a.parquet"], check_dtype=False)
    result = score_cli(str(tmp_path / "c.csv"), "-o", str(tmp_path / "d.csv"), records=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "INVALID" not in set(_read(tmp_path / "d.csv").status)


def test_bentoml_run_in_spark_cannot_drive_a_new_style_service(
    trained_model: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Why score.py --spark ships the model and not the service (docs/batch.md)."""
    import inspect

    import bentoml
    from bentoml._internal.batch import spark as bentoml_spark

    monkeypatch.setenv("CREDIT_RISK_MONITORING_DIR", str(tmp_path))
    api = bentoml.load(str(ROOT)).apis["classify_batch"]
    # run_in_spark reads the legacy descriptors, which a new-style APIMethod lacks.
    source = inspect.getsource(bentoml_spark)
    assert "api.output.spark_schema()" in source
    assert "inference_api.input.from_arrow(batch)" in source
    assert not hasattr(api, "input") and not hasattr(api, "output")
