"""Runtime settings of the service, read once from ``CREDIT_RISK_*`` environment variables."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from credit_risk.model_store import MODEL_NAME


class Settings(BaseSettings):
    """Every knob of the service; see the README's configuration table."""

    model_config = SettingsConfigDict(env_prefix="CREDIT_RISK_", frozen=True)

    model_tag: str = Field(default=f"{MODEL_NAME}:latest", description="Model store tag to serve.")
    topology: Literal["embedded", "remote"] = Field(
        default="embedded",
        description="embedded: the runner lives in the API worker; remote: its own process.",
    )
    api_workers: int = Field(default=2, ge=1, description="API worker processes.")
    runner_workers: int = Field(default=1, ge=1, description="Runner processes (remote topology).")
    xgb_nthread: int = Field(default=1, ge=1, description="XGBoost threads per worker.")
    monitoring: bool = Field(default=True, description="Write a decision record per decision.")
    monitoring_dir: str = Field(default="monitoring", description="Where decision records go.")
    api_key: SecretStr | None = Field(
        default=None, description="When set, the classify endpoints require this key."
    )


def load_settings() -> Settings:
    """Settings from the environment."""
    return Settings()
