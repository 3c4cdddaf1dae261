"""Executions: runs, stage and action executions, transitions, status history, logs.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 05:30:01.625704
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from stageline.persistence.types import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "status_changes",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("pipeline_id", sa.Integer(), nullable=False),
        sa.Column("execution_pk", sa.Integer(), nullable=False),
        sa.Column("entity", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=210), nullable=False),
        sa.Column("old_status", sa.String(length=16), nullable=True),
        sa.Column("new_status", sa.String(length=16), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_status_changes")),
    )
    with op.batch_alter_table("status_changes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_status_changes_execution_pk"), ["execution_pk"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_status_changes_pipeline_id"), ["pipeline_id"], unique=False
        )

    op.create_table(
        "pipeline_executions",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("execution_id", sa.String(length=36), nullable=False),
        sa.Column("pipeline_id", sa.Integer(), nullable=False),
        sa.Column("pipeline_version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_summary", sa.String(length=2048), nullable=True),
        sa.Column("execution_mode", sa.String(length=16), nullable=False),
        sa.Column("trigger_type", sa.String(length=32), nullable=False),
        sa.Column("trigger_detail", sa.String(length=1024), nullable=True),
        sa.Column("client_request_token", sa.String(length=128), nullable=True),
        sa.Column("variables", sa.JSON(), nullable=False),
        sa.Column("source_overrides", sa.JSON(), nullable=False),
        sa.Column("stage_index", sa.Integer(), nullable=False),
        sa.Column("waiting", sa.Boolean(), nullable=False),
        sa.Column("stop_mode", sa.String(length=16), nullable=True),
        sa.Column("stop_reason", sa.String(length=200), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["pipeline_id"],
            ["pipelines.id"],
            name=op.f("fk_pipeline_executions_pipeline_id_pipelines"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_pipeline_executions")),
        sa.UniqueConstraint("execution_id", name=op.f("uq_pipeline_executions_execution_id")),
        sa.UniqueConstraint(
            "pipeline_id", "client_request_token", name=op.f("uq_pipeline_executions_pipeline_id")
        ),
    )
    with op.batch_alter_table("pipeline_executions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_pipeline_executions_pipeline_id"), ["pipeline_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_pipeline_executions_status"), ["status"], unique=False)

    op.create_table(
        "stage_transitions",
        sa.Column("pipeline_id", sa.Integer(), nullable=False),
        sa.Column("stage_name", sa.String(length=100), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=True),
        sa.Column("changed_by", sa.String(length=200), nullable=True),
        sa.Column("changed_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["pipeline_id"],
            ["pipelines.id"],
            name=op.f("fk_stage_transitions_pipeline_id_pipelines"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "pipeline_id", "stage_name", "direction", name=op.f("pk_stage_transitions")
        ),
    )
    op.create_table(
        "action_executions",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("action_execution_id", sa.String(length=36), nullable=False),
        sa.Column("execution_pk", sa.Integer(), nullable=False),
        sa.Column("pipeline_id", sa.Integer(), nullable=False),
        sa.Column("stage_name", sa.String(length=100), nullable=False),
        sa.Column("action_name", sa.String(length=100), nullable=False),
        sa.Column("stage_attempt", sa.Integer(), nullable=False),
        sa.Column("run_order", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("summary", sa.String(length=2048), nullable=True),
        sa.Column("lease_token", sa.Integer(), nullable=False),
        sa.Column("lease_expires_at", UTCDateTime(), nullable=True),
        sa.Column("dispatched_at", UTCDateTime(), nullable=True),
        sa.Column("next_check_at", UTCDateTime(), nullable=True),
        sa.Column("timeout_at", UTCDateTime(), nullable=False),
        sa.Column("worker_id", sa.String(length=200), nullable=True),
        sa.Column("approval_token", sa.String(length=36), nullable=True),
        sa.Column("continuation", sa.JSON(), nullable=True),
        sa.Column("input", sa.JSON(), nullable=False),
        sa.Column("output_artifacts", sa.JSON(), nullable=False),
        sa.Column("output_variables", sa.JSON(), nullable=False),
        sa.Column("revision", sa.JSON(), nullable=True),
        sa.Column("external_execution_id", sa.String(length=1500), nullable=True),
        sa.Column("external_execution_url", sa.String(length=2048), nullable=True),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("error_message", sa.String(length=5000), nullable=True),
        sa.Column("updated_by", sa.String(length=200), nullable=True),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["execution_pk"],
            ["pipeline_executions.pk"],
            name=op.f("fk_action_executions_execution_pk_pipeline_executions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_action_executions")),
        sa.UniqueConstraint(
            "action_execution_id", name=op.f("uq_action_executions_action_execution_id")
        ),
    )
    with op.batch_alter_table("action_executions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_action_executions_execution_pk"), ["execution_pk"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_action_executions_pipeline_id"), ["pipeline_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_action_executions_status"), ["status"], unique=False)

    op.create_table(
        "stage_executions",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("execution_pk", sa.Integer(), nullable=False),
        sa.Column("pipeline_id", sa.Integer(), nullable=False),
        sa.Column("stage_name", sa.String(length=100), nullable=False),
        sa.Column("stage_index", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("counted_from_attempt", sa.Integer(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["execution_pk"],
            ["pipeline_executions.pk"],
            name=op.f("fk_stage_executions_execution_pk_pipeline_executions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_stage_executions")),
        sa.UniqueConstraint(
            "execution_pk", "stage_name", name=op.f("uq_stage_executions_execution_pk")
        ),
    )
    with op.batch_alter_table("stage_executions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_stage_executions_execution_pk"), ["execution_pk"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_stage_executions_pipeline_id"), ["pipeline_id"], unique=False
        )

    op.create_table(
        "action_logs",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("action_pk", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["action_pk"],
            ["action_executions.pk"],
            name=op.f("fk_action_logs_action_pk_action_executions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_action_logs")),
    )
    with op.batch_alter_table("action_logs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_action_logs_action_pk"), ["action_pk"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("action_logs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_action_logs_action_pk"))

    op.drop_table("action_logs")
    with op.batch_alter_table("stage_executions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_stage_executions_pipeline_id"))
        batch_op.drop_index(batch_op.f("ix_stage_executions_execution_pk"))

    op.drop_table("stage_executions")
    with op.batch_alter_table("action_executions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_action_executions_status"))
        batch_op.drop_index(batch_op.f("ix_action_executions_pipeline_id"))
        batch_op.drop_index(batch_op.f("ix_action_executions_execution_pk"))

    op.drop_table("action_executions")
    op.drop_table("stage_transitions")
    with op.batch_alter_table("pipeline_executions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pipeline_executions_status"))
        batch_op.drop_index(batch_op.f("ix_pipeline_executions_pipeline_id"))

    op.drop_table("pipeline_executions")
    with op.batch_alter_table("status_changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_status_changes_pipeline_id"))
        batch_op.drop_index(batch_op.f("ix_status_changes_execution_pk"))

    op.drop_table("status_changes")
