"""Runtime settings of the service, read once from ``CREDIT_RISK_*`` environment variables.

A leaf: pydantic only, no bentoml or xgboost, so that tools and checks can read the
settings without loading the model's libraries.
"""

from __future__ import annotations

from typing import Final, Literal, TypedDict

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from credit_risk.model import DEFAULT_MODEL_TAG
from credit_risk.records.sinks import DEFAULT_ROTATE_BYTES

MIN_API_KEY_LENGTH: Final = 16
"""Shortest API key accepted; ``secrets.token_urlsafe(32)`` makes a good one."""


class RecordsConfig(TypedDict):
    """``credit_risk.records.open_writer``'s arguments: where and how records are written."""

    sink: Literal["file", "stdout"]
    monitoring_dir: str
    fsync: bool
    rotate_bytes: int
    required: bool


class Settings(BaseSettings):
    """Every knob of the service; see docs/operations.md#configuration."""

    model_config = SettingsConfigDict(env_prefix="CREDIT_RISK_", frozen=True)

    model_tag: str = Field(default=DEFAULT_MODEL_TAG, description="Model store tag to serve.")
    topology: Literal["embedded", "remote"] = Field(
        default="embedded",
        description="embedded: the runner lives in the API worker; remote: its own process.",
    )
    api_workers: int = Field(default=2, ge=1, description="API worker processes.")
    runner_workers: int = Field(default=1, ge=1, description="Runner processes (remote topology).")
    xgb_nthread: int = Field(default=1, ge=1, description="XGBoost threads per worker.")
    monitoring: bool = Field(default=True, description="Write a decision record per decision.")
    monitoring_dir: str = Field(
        default="monitoring", description="Decision records go to its decisions/ folder."
    )
    records_sink: Literal["file", "stdout"] = Field(
        default="file",
        description="file: <monitoring_dir>/decisions/*.jsonl; stdout: JSON lines on fd 1.",
    )
    records_fsync: bool = Field(
        default=False, description="fsync every group of records: survives a machine crash."
    )
    records_rotate_bytes: int = Field(
        default=DEFAULT_ROTATE_BYTES, ge=4096, description="Start a new record file past this."
    )
    records_required: bool = Field(
        default=True,
        description=(
            "No decision without its record (503 while records cannot be written); false "
            "answers anyway, counting and logging every lost record."
        ),
    )
    drift_window: int = Field(
        default=1000,
        ge=0,
        description="Decisions per API worker over which /metrics reports PSI drift; 0: off.",
    )
    access_log: bool = Field(default=True, description="BentoML's per-request access log.")
    tracing: bool = Field(
        default=False,
        description=(
            "OpenTelemetry spans for every request (BentoML's tracing middleware). Off: "
            "requests skip that middleware, which at BentoML's default sample rate of 0 "
            "collects nothing; turn on with BentoML's tracing configuration (exporter, "
            "sample_rate)."
        ),
    )
    api_key: SecretStr | None = Field(
        default=None,
        description=(
            "When set, every endpoint but the health probes, /metrics, the API docs and "
            "the web page (/app) requires this key (Authorization: Bearer <key> or "
            "X-API-Key: <key>)."
        ),
    )
    max_body_bytes: int = Field(
        default=1_048_576,
        ge=1024,
        description="Largest request body accepted; a full batch of 1,000 is about 230 kB.",
    )

    max_head_bytes: int = Field(
        default=65_536,
        ge=1024,
        description=(
            "Largest request head (request line and headers) accepted; a larger one is "
            "answered 431 and its connection closed. The default is an AWS ALB's limit."
        ),
    )
    head_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description=(
            "Seconds a client has to send a whole request head, from the connection's "
            "opening (or the head's first byte on a kept-alive connection); past it, 408 "
            "and the connection closed."
        ),
    )

    sagemaker: bool = Field(
        default=False,
        description=(
            "Also answer SageMaker's GET /ping, POST /invocations and GET "
            "/execution-parameters (credit_risk/serving/aws/sagemaker.py); run with PORT=8080."
        ),
    )

    @field_validator("api_key")
    @classmethod
    def _usable_api_key(cls, key: SecretStr | None) -> SecretStr | None:
        # Fail closed: an empty or short value (say, an unset variable in a
        # compose file) must stop the service, not open it or make it guessable.
        if key is None:
            return None
        value = key.get_secret_value()
        if len(value) < MIN_API_KEY_LENGTH:
            raise ValueError(f"must be at least {MIN_API_KEY_LENGTH} characters")
        if not all("!" <= char <= "~" for char in value):
            raise ValueError("must be printable ASCII without spaces, to fit in an HTTP header")
        return key

    def records_config(self, monitoring_dir: str | None = None) -> RecordsConfig:
        """The record writer's arguments (``open_writer(**config)``) these settings describe;
        ``monitoring_dir`` overrides theirs (``score.py --records-dir``). Whether records
        are written at all is ``monitoring``."""
        return RecordsConfig(
            sink=self.records_sink,
            monitoring_dir=monitoring_dir or self.monitoring_dir,
            fsync=self.records_fsync,
            rotate_bytes=self.records_rotate_bytes,
            required=self.records_required,
        )


def load_settings() -> Settings:
    """Settings from the environment."""
    return Settings()
