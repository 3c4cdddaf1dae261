"""Typed SQLAlchemy 2 models. The database is the only source of truth."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from stageline.persistence.types import UTCDateTime

# Explicit constraint names so Alembic migrations are identical on Postgres and SQLite.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Pipeline(Base):
    """One pipeline; its declarations live in PipelineVersion rows, one per version."""

    __tablename__ = "pipelines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    version: Mapped[int] = mapped_column(Integer)
    pipeline_type: Mapped[str] = mapped_column(String(8))
    execution_mode: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    versions: Mapped[list[PipelineVersion]] = relationship(
        back_populates="pipeline", cascade="all, delete-orphan", passive_deletes=True
    )


class PipelineVersion(Base):
    """An immutable snapshot of a pipeline declaration; executions pin one."""

    __tablename__ = "pipeline_versions"
    __table_args__ = (UniqueConstraint("pipeline_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    pipeline_id: Mapped[int] = mapped_column(ForeignKey("pipelines.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    declaration: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    pipeline: Mapped[Pipeline] = relationship(back_populates="versions")


class Tag(Base):
    """Tags of any taggable resource, keyed by its ARN."""

    __tablename__ = "tags"

    resource_arn: Mapped[str] = mapped_column(String(1011), primary_key=True)
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[str] = mapped_column(String(256))


class PipelineExecution(Base):
    """One run of a pipeline, pinned to the version it started on."""

    __tablename__ = "pipeline_executions"
    __table_args__ = (UniqueConstraint("pipeline_id", "client_request_token"),)

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    execution_id: Mapped[str] = mapped_column(String(36), unique=True)
    pipeline_id: Mapped[int] = mapped_column(
        ForeignKey("pipelines.id", ondelete="CASCADE"), index=True
    )
    pipeline_version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), index=True)
    status_summary: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    execution_mode: Mapped[str] = mapped_column(String(16))
    trigger_type: Mapped[str] = mapped_column(String(32))
    trigger_detail: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    client_request_token: Mapped[str | None] = mapped_column(String(128), nullable=True)
    variables: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    source_overrides: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    # Position: the stage it is in, or (waiting) the stage whose inbound boundary it waits at.
    stage_index: Mapped[int] = mapped_column(Integer, default=0)
    waiting: Mapped[bool] = mapped_column(default=True)
    stop_mode: Mapped[str | None] = mapped_column(String(16), nullable=True)
    stop_reason: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class StageExecution(Base):
    __tablename__ = "stage_executions"
    __table_args__ = (UniqueConstraint("execution_pk", "stage_name"),)

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    execution_pk: Mapped[int] = mapped_column(
        ForeignKey("pipeline_executions.pk", ondelete="CASCADE"), index=True
    )
    pipeline_id: Mapped[int] = mapped_column(Integer, index=True)
    stage_name: Mapped[str] = mapped_column(String(100))
    stage_index: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    # Action results from attempts before this one count (FAILED_ACTIONS retry) or not.
    counted_from_attempt: Mapped[int] = mapped_column(Integer, default=1)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ActionExecution(Base):
    """One attempt of one action. Workers claim it through a lease with a fencing token."""

    __tablename__ = "action_executions"

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    action_execution_id: Mapped[str] = mapped_column(String(36), unique=True)
    execution_pk: Mapped[int] = mapped_column(
        ForeignKey("pipeline_executions.pk", ondelete="CASCADE"), index=True
    )
    pipeline_id: Mapped[int] = mapped_column(Integer, index=True)
    stage_name: Mapped[str] = mapped_column(String(100))
    action_name: Mapped[str] = mapped_column(String(100))
    stage_attempt: Mapped[int] = mapped_column(Integer)
    run_order: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), index=True)
    summary: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    lease_token: Mapped[int] = mapped_column(Integer, default=0)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    next_check_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    timeout_at: Mapped[datetime] = mapped_column(UTCDateTime())
    worker_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    approval_token: Mapped[str | None] = mapped_column(String(36), nullable=True)
    # Waits on a job worker, a third party or a Lambda function (a `jobs` row), not on ours.
    awaits_job: Mapped[bool] = mapped_column(default=False, server_default=false())
    continuation: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    input: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    output_artifacts: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    output_variables: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    revision: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    external_execution_id: Mapped[str | None] = mapped_column(String(1500), nullable=True)
    external_execution_url: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    error_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    error_message: Mapped[str | None] = mapped_column(String(5000), nullable=True)
    updated_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class StageTransition(Base):
    """A disabled (or re-enabled) transition into or out of a stage, with who and why."""

    __tablename__ = "stage_transitions"

    pipeline_id: Mapped[int] = mapped_column(
        ForeignKey("pipelines.id", ondelete="CASCADE"), primary_key=True
    )
    stage_name: Mapped[str] = mapped_column(String(100), primary_key=True)
    direction: Mapped[str] = mapped_column(String(8), primary_key=True)
    enabled: Mapped[bool] = mapped_column()
    reason: Mapped[str | None] = mapped_column(String(300), nullable=True)
    changed_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime())


class StatusChange(Base):
    """History: every status change of an execution, stage or action, in order."""

    __tablename__ = "status_changes"

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    pipeline_id: Mapped[int] = mapped_column(Integer, index=True)
    execution_pk: Mapped[int] = mapped_column(Integer, index=True)
    entity: Mapped[str] = mapped_column(String(16))  # execution | stage | action
    name: Mapped[str] = mapped_column(String(210))
    old_status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    new_status: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class ActionLog(Base):
    """An action attempt's log, in chunks, readable while it runs."""

    __tablename__ = "action_logs"

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    action_pk: Mapped[int] = mapped_column(
        ForeignKey("action_executions.pk", ondelete="CASCADE"), index=True
    )
    text: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class BuildProject(Base):
    """A CodeBuild project: its settings as CodeBuild's API states them, defaults filled in."""

    __tablename__ = "build_projects"

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    tags: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    build_counter: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Build(Base):
    """One build. Standalone builds are claimed by a worker through a lease, as action
    attempts are; a pipeline's build runs inside its action attempt (action_pk)."""

    __tablename__ = "builds"

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    build_id: Mapped[str] = mapped_column(String(300), unique=True)
    project_name: Mapped[str] = mapped_column(String(255), index=True)
    build_number: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), index=True)
    current_phase: Mapped[str] = mapped_column(String(32))
    phases: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    initiator: Mapped[str] = mapped_column(String(300))
    source_version: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    resolved_source_version: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    # The effective settings: the project's, with StartBuild's overrides applied.
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    outputs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    exported_variables: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    report_arns: Mapped[list[str]] = mapped_column(JSON, default=list)
    idempotency_token: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # A pipeline's build runs inside its action attempt and is never dispatched on its own.
    in_pipeline: Mapped[bool] = mapped_column(default=False)
    action_pk: Mapped[int | None] = mapped_column(
        ForeignKey("action_executions.pk", ondelete="SET NULL"), nullable=True, index=True
    )
    stop_requested: Mapped[bool] = mapped_column(default=False)
    lease_token: Mapped[int] = mapped_column(Integer, default=0)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    worker_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class BuildLog(Base):
    """A standalone build's log, in chunks (a pipeline's build writes its action's log)."""

    __tablename__ = "build_logs"

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    build_pk: Mapped[int] = mapped_column(ForeignKey("builds.pk", ondelete="CASCADE"), index=True)
    text: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class BuildReport(Base):
    """A test report parsed from a build's `reports` files."""

    __tablename__ = "build_reports"

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    arn: Mapped[str] = mapped_column(String(1011), unique=True)
    report_group_arn: Mapped[str] = mapped_column(String(1011), index=True)
    build_pk: Mapped[int] = mapped_column(ForeignKey("builds.pk", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    summary: Mapped[dict[str, Any]] = mapped_column(JSON)
    test_cases: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CustomActionType(Base):
    """A custom action type (CreateCustomActionType; UpdateActionType). Deleting one keeps the
    row (deleted_at): AWS never lets a deleted category/provider/version come back."""

    __tablename__ = "custom_action_types"
    __table_args__ = (UniqueConstraint("category", "owner", "provider", "version"),)

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    category: Mapped[str] = mapped_column(String(32))
    owner: Mapped[str] = mapped_column(String(16))
    provider: Mapped[str] = mapped_column(String(35))
    version: Mapped[str] = mapped_column(String(9))
    # ActionTypeDeclaration-shaped: description, executor, properties, artifact details, urls,
    # plus the legacy settings and configurationProperties as CreateCustomActionType gave them.
    declaration: Mapped[dict[str, Any]] = mapped_column(JSON)
    tags: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Job(Base):
    """A job of the CodePipeline job protocol: one per attempt of a custom, third-party or
    Lambda action (and one more per continuation). Claimed by PollForJobs with a conditional
    UPDATE, so one worker gets it."""

    __tablename__ = "jobs"

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(String(36), unique=True)
    action_pk: Mapped[int] = mapped_column(
        ForeignKey("action_executions.pk", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))  # job | third_party | lambda
    category: Mapped[str] = mapped_column(String(32))
    owner: Mapped[str] = mapped_column(String(16))
    provider: Mapped[str] = mapped_column(String(35))
    version: Mapped[str] = mapped_column(String(9))
    status: Mapped[str] = mapped_column(String(16), index=True)
    nonce: Mapped[str | None] = mapped_column(String(50), nullable=True)
    client_token: Mapped[str | None] = mapped_column(String(256), nullable=True)
    query: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)  # queryable properties
    data: Mapped[dict[str, Any]] = mapped_column(JSON)  # JobData, without credentials
    # Temporary credentials for the artifact endpoint, scoped to this job's artifacts.
    access_key_id: Mapped[str | None] = mapped_column(String(32), unique=True, nullable=True)
    secret_access_key: Mapped[str | None] = mapped_column(String(64), nullable=True)
    session_token: Mapped[str | None] = mapped_column(String(128), nullable=True)
    credentials_expire_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


# The other model modules register their tables on Base.metadata; importing them here means
# anything that imports the models (Alembic, the migration tests) sees the whole schema.
from stageline.persistence import (  # noqa: E402
    models_connections,  # noqa: F401
    models_events,  # noqa: F401
    models_triggers,  # noqa: F401
)
