"""Configuration from `STAGELINE_*` environment variables (pydantic-settings)."""

from __future__ import annotations

import os
import tempfile
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_data_dir() -> Path:
    return Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "stageline"


class Settings(BaseSettings):
    """Every knob of a Stageline process. Secrets are SecretStr so they never print."""

    model_config = SettingsConfigDict(env_prefix="STAGELINE_", extra="ignore")

    data_dir: Path = Field(default_factory=_default_data_dir)
    # None means SQLite at data_dir/stageline.db (the embedded default).
    database_url: str | None = None
    # None means the in-process executor; a URL means Celery on that broker.
    broker_url: str | None = None
    artifact_store: Literal["folder", "s3"] = "folder"
    region: str = "us-east-1"
    account_id: str = Field(default="000000000000", pattern=r"^[0-9]{12}$")
    root_access_key_id: str | None = None
    root_secret_access_key: SecretStr | None = None
    # Encrypts stored connection credentials (Fernet key). None: a key file (0600) in the data
    # dir, made on first use; API replicas and workers must share it through this variable.
    secret_key: SecretStr | None = None
    # Signs web console sessions. None: a random key kept (0600) in the data dir, so restarts
    # keep sessions; replicas behind one address must share it through this variable.
    session_secret: SecretStr | None = None
    # Test and debug aid: check every AWS response against botocore's output shape.
    validate_responses: bool = False
    # Largest request body the AWS endpoint accepts (AWS answers 413 past its own limit).
    max_request_bytes: int = 1024 * 1024
    log_level: str = "info"
    # Executions: a worker's lease on an action attempt, renewed by heartbeats; an expired
    # lease (dead worker) or an unclaimed dispatch is re-dispatched within lease + 1 s.
    lease_seconds: float = Field(default=30.0, gt=0)
    action_timeout_minutes: int = Field(default=60, ge=1)
    approval_timeout_minutes: int = Field(default=7 * 24 * 60, ge=1)
    # Threads of the in-process executor (embedded mode) and of each `stageline worker`.
    workers: int = Field(default=4, ge=1)
    reconcile_interval: float = Field(default=1.0, gt=0)
    # A job worker must acknowledge a job it polled within this time, or the action fails.
    job_ack_timeout_seconds: float = Field(default=300.0, gt=0)
    # Events (GET /api/v1/events) and their deliveries are kept this long, then pruned.
    event_retention_days: int = Field(default=30, ge=1)
    # Change detection by polling (S3 PollForSourceChanges, git DetectChanges), every N s.
    source_poll_interval: float = Field(default=60.0, gt=0)
    # Where users reach this Stageline: links to builds and their logs point here.
    public_url: str = "http://localhost:8080"
    # GitHub's REST API, for RegisterWebhookWithThirdParty (GitHub Enterprise: .../api/v3).
    github_api_url: str = "https://api.github.com"
    # Builds run in <build_dir>/<build>: outside the data dir, so that the unprivileged build
    # user can reach its own workspace and nothing of Stageline's.
    build_dir: Path = Field(
        default_factory=lambda: Path(tempfile.gettempdir()) / "stageline-builds"
    )

    @cached_property
    def resolved_database_url(self) -> str:
        if self.database_url:
            url = self.database_url
            # Users write postgresql://; SQLAlchemy needs the driver named for psycopg 3.
            if url.startswith("postgresql://") or url.startswith("postgres://"):
                url = "postgresql+psycopg://" + url.split("://", 1)[1]
            return url
        return f"sqlite:///{self.data_dir / 'stageline.db'}"

    @property
    def artifacts_dir(self) -> Path:
        return self.data_dir / "artifacts"

    @property
    def workspaces_dir(self) -> Path:
        return self.data_dir / "workspaces"
