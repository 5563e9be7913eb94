"""Runtime settings of the service, read once from ``CREDIT_RISK_*`` environment variables.

A leaf: pydantic only, no bentoml or xgboost, so that tools and checks can read the
settings without loading the model's libraries.
"""

from __future__ import annotations

from typing import Final, Literal, TypedDict

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from credit_risk.records.sinks import DEFAULT_ROTATE_BYTES

MIN_API_KEY_LENGTH: Final = 16
"""Shortest API key accepted; ``secrets.token_urlsafe(32)`` makes a good one."""
MAX_API_KEYS: Final = 8
"""Most API keys valid at once: a rotation needs two or three; the guard compares a
presented key against this many digests whatever the number configured."""


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

    model_tag: str | None = Field(
        default=None,
        description=(
            "The champion for this run, overriding the release (a bento's aliases, else the "
            "release file): docs/governance.md."
        ),
    )
    challenger_tag: str | None = Field(
        default=None,
        description="The challenger for this run, scored in the champion's shadow.",
    )
    release_file: str | None = Field(
        default=None,
        description="The release file; unset: $BENTOML_HOME/credit_risk/release.json.",
    )
    topology: Literal["embedded", "remote"] = Field(
        default="embedded",
        description="embedded: the runner lives in the API worker; remote: its own process.",
    )
    api_workers: int = Field(default=2, ge=1, description="API worker processes.")
    runner_workers: int = Field(default=1, ge=1, description="Runner processes (remote topology).")
    accept_defer_ms: float = Field(
        default=50.0,
        ge=0,
        description=(
            "API workers take turns at accepting connections by how many each holds open: "
            "the longest one steps aside for a peer holding fewer (a stopped or busy peer "
            "delays a connection this much, never refuses it); 0: the kernel and uvloop "
            "place connections (docs/operations.md#few-connections-both-workers)."
        ),
    )

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
    allow_scored_protected: tuple[str, ...] = Field(
        default=(),
        description=(
            "Protected fields (policy.PROTECTED_FIELDS, the model's policy) a model may "
            'score and still be served, e.g. ["marital"]: /model and the card then say '
            "so. Empty: a model scoring one is refused at load."
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
    api_keys: SecretStr | None = Field(
        default=None,
        description=(
            "More keys, comma-separated, each valid as api_key is, together with it: "
            "rotation without downtime (add the new key, move the clients, drop the old)."
        ),
    )
    protect_metrics: bool = Field(
        default=False,
        description=(
            "With a key, /metrics needs it too. Off by default because Prometheus scrapes "
            "without credentials unless given `authorization` in its scrape_config, and the "
            "fronts keep /metrics to the monitoring network."
        ),
    )
    protect_docs: bool = Field(
        default=False,
        description=(
            "With a key, the API documents (/, /docs.json, /schema.json and the Swagger "
            "UI's assets) need it too; the page at /app then needs the key before its form."
        ),
    )
    max_body_bytes: int = Field(
        default=1_048_576,
        ge=1024,
        description="Largest request body accepted; a full batch of 1,000 is about 230 kB.",
    )
    max_csv_rows: int = Field(
        default=1000,
        ge=1,
        description=(
            "Most applications in one /classify_csv (or SageMaker CSV /invocations) body, "
            "as /classify_batch's 1,000; more is answered 413 (use score.py for a portfolio)."
        ),
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

    keep_alive_s: float = Field(
        default=75.0,
        gt=0,
        description=(
            "Seconds an idle kept-alive connection stays open. Longer than any front's "
            "idle timeout (an AWS load balancer's 60 s, ingress-nginx's 60 s): a front "
            "that reuses a connection the service has just closed loses the request "
            "(a 502, or a client's ReadError), and a POST is not retried."
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
        if key is not None:
            _check_api_key(key.get_secret_value())
        return key

    @field_validator("api_keys")
    @classmethod
    def _usable_api_keys(cls, keys: SecretStr | None) -> SecretStr | None:
        if keys is None:
            return None
        pieces = _split_keys(keys)
        # An empty piece ("old,", say, with the new key's variable unset) fails
        # here like an empty single key: the service must not start half-keyed.
        for position, piece in enumerate(pieces, start=1):
            try:
                _check_api_key(piece)
            except ValueError as unusable:
                raise ValueError(f"key {position}: {unusable}") from None
        if len(pieces) > MAX_API_KEYS:
            raise ValueError(f"at most {MAX_API_KEYS} keys")
        return keys

    @model_validator(mode="after")
    def _protection_needs_a_key(self) -> Settings:
        # Fail closed: asking to protect a path with no key to protect it by is
        # a mistake to stop at, not a setting to ignore silently.
        if (self.protect_metrics or self.protect_docs) and not self.accepted_api_keys():
            raise ValueError(
                "CREDIT_RISK_PROTECT_METRICS and CREDIT_RISK_PROTECT_DOCS need "
                "CREDIT_RISK_API_KEY or CREDIT_RISK_API_KEYS"
            )
        if len(self.accepted_api_keys()) > MAX_API_KEYS:
            raise ValueError(f"at most {MAX_API_KEYS} API keys in all")
        return self

    def accepted_api_keys(self) -> tuple[SecretStr, ...]:
        """Every valid API key: ``api_key`` and each of ``api_keys``, once each, in order;
        empty when no key is required."""
        values = [self.api_key.get_secret_value()] if self.api_key is not None else []
        if self.api_keys is not None:
            values += _split_keys(self.api_keys)
        return tuple(SecretStr(value) for value in dict.fromkeys(values))

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


def _split_keys(keys: SecretStr) -> list[str]:
    # No key holds a space, so spaces around the commas ("old, new") are the
    # writer's, not a key's. A key with a comma can only be CREDIT_RISK_API_KEY.
    return [piece.strip() for piece in keys.get_secret_value().split(",")]


def _check_api_key(value: str) -> None:
    # Fail closed: an empty or short value (say, an unset variable in a
    # compose file) must stop the service, not open it or make it guessable.
    if len(value) < MIN_API_KEY_LENGTH:
        raise ValueError(f"must be at least {MIN_API_KEY_LENGTH} characters")
    if not all("!" <= char <= "~" for char in value):
        raise ValueError("must be printable ASCII without spaces, to fit in an HTTP header")


def load_settings() -> Settings:
    """Settings from the environment."""
    return Settings()
