"""On Lambda, everything the service writes goes to /tmp or stdout; elsewhere nothing changes."""

from __future__ import annotations

from pathlib import Path

import pytest

from credit_risk.serving.aws import lambda_paths
from credit_risk.serving.aws.lambda_paths import lambda_environment, on_lambda, prepare_lambda_paths

IMAGE_ENV = {
    "CREDIT_RISK_MONITORING_DIR": "/home/bentoml/monitoring",
    "BENTOML_HOME": "/home/bentoml/",
}


def test_off_lambda_nothing_changes() -> None:
    environ = dict(IMAGE_ENV)
    assert not on_lambda(environ)
    assert prepare_lambda_paths(environ) == {}
    assert environ == IMAGE_ENV


@pytest.mark.parametrize("marker", lambda_paths.LAMBDA_MARKERS)
def test_on_lambda_every_writer_moves_under_tmp_and_records_go_to_stdout(
    marker: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lambda_paths, "WRITABLE_ROOT", tmp_path)
    environ = {**IMAGE_ENV, marker: "127.0.0.1:9001"}
    changes = prepare_lambda_paths(environ)
    assert changes["CREDIT_RISK_RECORDS_SINK"] == "stdout"
    for name in ("BENTOML_HOME", "PROMETHEUS_MULTIPROC_DIR", "CREDIT_RISK_MONITORING_DIR"):
        assert Path(environ[name]).is_relative_to(tmp_path), name
        assert Path(environ[name]).is_dir(), name


def test_an_operators_choices_on_tmp_efs_or_sink_are_kept() -> None:
    environ = {
        "AWS_LAMBDA_FUNCTION_NAME": "credit-risk",
        "CREDIT_RISK_MONITORING_DIR": "/mnt/efs/records",
        "CREDIT_RISK_RECORDS_SINK": "file",
    }
    changes = lambda_environment(environ)
    assert "CREDIT_RISK_MONITORING_DIR" not in changes
    assert "CREDIT_RISK_RECORDS_SINK" not in changes
    assert changes["BENTOML_HOME"] == "/tmp/bentoml"
