"""Settings are a light leaf, own the mapping to the record writer's arguments and the
API keys' merging, and are all documented in docs/operations.md."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from credit_risk.settings import MAX_API_KEYS, Settings


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
    # No tag by default: the release names the champion (credit_risk/model/release.py).
    assert settings.model_tag is None and settings.challenger_tag is None
    assert settings.records_config() == {
        "sink": "file",
        "monitoring_dir": "/var/records",
        "fsync": True,
        "rotate_bytes": settings.records_rotate_bytes,
        "required": True,
    }
    assert settings.records_config("elsewhere")["monitoring_dir"] == "elsewhere"


KEY_A = "a" * 16 + "-old-key"
KEY_B = "b" * 16 + "-new-key"


def _keys(settings: Settings) -> list[str]:
    return [key.get_secret_value() for key in settings.accepted_api_keys()]


def test_no_key_by_default_and_nothing_protected() -> None:
    settings = Settings()
    assert settings.accepted_api_keys() == ()
    assert not settings.protect_metrics and not settings.protect_docs


def test_api_key_and_api_keys_are_merged(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CREDIT_RISK_API_KEY", KEY_A)
    monkeypatch.setenv("CREDIT_RISK_API_KEYS", f"{KEY_B} , {KEY_A}")
    # Spaces around commas are no part of a key; a key given twice counts once.
    assert _keys(Settings()) == [KEY_A, KEY_B]
    monkeypatch.delenv("CREDIT_RISK_API_KEY")
    assert _keys(Settings()) == [KEY_B, KEY_A]
    # The keys never show in a repr or a log line of the settings.
    assert KEY_A not in repr(Settings()) and KEY_B not in str(Settings())


@pytest.mark.parametrize(
    "value",
    [f"{KEY_A},", f"{KEY_A},short", f"{KEY_A},,{KEY_B}", "", f"{KEY_A},é{'x' * 20}"],
    ids=["trailing comma", "short key", "empty key", "empty", "not ascii"],
)
def test_every_one_of_api_keys_must_be_usable(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("CREDIT_RISK_API_KEYS", value)
    with pytest.raises(ValidationError, match="api_keys"):
        Settings()


def test_at_most_max_api_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    keys = [f"{index:02d}" + "k" * 16 for index in range(MAX_API_KEYS)]
    monkeypatch.setenv("CREDIT_RISK_API_KEYS", ",".join(keys))
    assert len(Settings().accepted_api_keys()) == MAX_API_KEYS
    monkeypatch.setenv("CREDIT_RISK_API_KEY", "one-too-many-" + "k" * 16)
    with pytest.raises(ValidationError, match="at most"):
        Settings()


@pytest.mark.parametrize("variable", ["CREDIT_RISK_PROTECT_METRICS", "CREDIT_RISK_PROTECT_DOCS"])
def test_protecting_without_a_key_stops_the_service(
    monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.setenv(variable, "true")
    with pytest.raises(ValidationError, match="need"):
        Settings()
    monkeypatch.setenv("CREDIT_RISK_API_KEYS", KEY_B)
    assert Settings().protect_metrics or Settings().protect_docs


CONFIGURATION = Path(__file__).parents[2] / "docs" / "operations.md"
ROW = re.compile(r"^\| `(CREDIT_RISK_[A-Z0-9_]+)` \| ([^|]+) \|", re.MULTILINE)


def _documented_default(cell: str) -> object:
    """A default as the table writes it, as a value: `unset`, `true`, `10`, 128 MiB."""
    text = cell.strip().strip("`")
    if text == "unset":
        return None
    if text in ("true", "false"):
        return text == "true"
    if text.endswith(" MiB"):
        return int(text.removesuffix(" MiB")) * 2**20
    try:
        return float(text)
    except ValueError:
        return text


def _default(value: object) -> object:
    if isinstance(value, bool) or value is None:
        return value
    return float(value) if isinstance(value, int | float) else str(value)


def test_the_configuration_table_documents_every_setting() -> None:
    # The table in docs/operations.md is written by hand: every field must have its
    # row, with its variable's name and its default, and no row may name a field
    # that does not exist.
    found = ROW.findall(CONFIGURATION.read_text())
    rows = dict(found)
    assert len(rows) == len(found), "a variable with two rows"
    fields = {
        f"CREDIT_RISK_{name.upper()}": _default(field.default)
        for name, field in Settings.model_fields.items()
    }
    assert sorted(set(fields) - set(rows)) == [], "settings without a row"
    assert sorted(set(rows) - set(fields)) == [], "rows without a setting"
    documented = {variable: _documented_default(cell) for variable, cell in rows.items()}
    assert documented == fields
