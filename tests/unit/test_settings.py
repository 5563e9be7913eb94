"""Settings are a light leaf, and own the mapping to the record writer's arguments."""

from __future__ import annotations

import subprocess
import sys

import pytest

from credit_risk.model import DEFAULT_MODEL_TAG
from credit_risk.settings import Settings


def test_importing_the_settings_loads_neither_bentoml_nor_xgboost() -> None:
    probe = (
        "import sys, credit_risk.settings; "
        "print(sorted(m for m in ('bentoml', 'xgboost') if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == "[]"


def test_records_config_is_what_open_writer_takes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CREDIT_RISK_RECORDS_FSYNC", "true")
    monkeypatch.setenv("CREDIT_RISK_MONITORING_DIR", "/var/records")
    settings = Settings()
    assert settings.model_tag == DEFAULT_MODEL_TAG
    assert settings.records_config() == {
        "sink": "file",
        "monitoring_dir": "/var/records",
        "fsync": True,
        "rotate_bytes": settings.records_rotate_bytes,
        "required": True,
    }
    assert settings.records_config("elsewhere")["monitoring_dir"] == "elsewhere"
