"""Builds: CodeBuild projects, builds, their logs and test reports.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 08:39:02.544710
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from stageline.persistence.types import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "build_projects",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("build_counter", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_build_projects")),
        sa.UniqueConstraint("name", name=op.f("uq_build_projects_name")),
    )
    op.create_table(
        "builds",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("build_id", sa.String(length=300), nullable=False),
        sa.Column("project_name", sa.String(length=255), nullable=False),
        sa.Column("build_number", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("current_phase", sa.String(length=32), nullable=False),
        sa.Column("phases", sa.JSON(), nullable=False),
        sa.Column("initiator", sa.String(length=300), nullable=False),
        sa.Column("source_version", sa.String(length=1024), nullable=True),
        sa.Column("resolved_source_version", sa.String(length=1024), nullable=True),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("outputs", sa.JSON(), nullable=False),
        sa.Column("exported_variables", sa.JSON(), nullable=False),
        sa.Column("report_arns", sa.JSON(), nullable=False),
        sa.Column("idempotency_token", sa.String(length=255), nullable=True),
        sa.Column("in_pipeline", sa.Boolean(), nullable=False),
        sa.Column("action_pk", sa.Integer(), nullable=True),
        sa.Column("stop_requested", sa.Boolean(), nullable=False),
        sa.Column("lease_token", sa.Integer(), nullable=False),
        sa.Column("lease_expires_at", UTCDateTime(), nullable=True),
        sa.Column("worker_id", sa.String(length=200), nullable=True),
        sa.Column("dispatched_at", UTCDateTime(), nullable=True),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("ended_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["action_pk"],
            ["action_executions.pk"],
            name=op.f("fk_builds_action_pk_action_executions"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_builds")),
        sa.UniqueConstraint("build_id", name=op.f("uq_builds_build_id")),
    )
    with op.batch_alter_table("builds", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_builds_action_pk"), ["action_pk"], unique=False)
        batch_op.create_index(batch_op.f("ix_builds_project_name"), ["project_name"], unique=False)
        batch_op.create_index(batch_op.f("ix_builds_status"), ["status"], unique=False)

    op.create_table(
        "build_logs",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("build_pk", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["build_pk"],
            ["builds.pk"],
            name=op.f("fk_build_logs_build_pk_builds"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_build_logs")),
    )
    with op.batch_alter_table("build_logs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_build_logs_build_pk"), ["build_pk"], unique=False)

    op.create_table(
        "build_reports",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("arn", sa.String(length=1011), nullable=False),
        sa.Column("report_group_arn", sa.String(length=1011), nullable=False),
        sa.Column("build_pk", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("test_cases", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["build_pk"],
            ["builds.pk"],
            name=op.f("fk_build_reports_build_pk_builds"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_build_reports")),
        sa.UniqueConstraint("arn", name=op.f("uq_build_reports_arn")),
    )
    with op.batch_alter_table("build_reports", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_build_reports_build_pk"), ["build_pk"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_build_reports_report_group_arn"), ["report_group_arn"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("build_reports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_build_reports_report_group_arn"))
        batch_op.drop_index(batch_op.f("ix_build_reports_build_pk"))

    op.drop_table("build_reports")
    with op.batch_alter_table("build_logs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_build_logs_build_pk"))

    op.drop_table("build_logs")
    with op.batch_alter_table("builds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_builds_status"))
        batch_op.drop_index(batch_op.f("ix_builds_project_name"))
        batch_op.drop_index(batch_op.f("ix_builds_action_pk"))

    op.drop_table("builds")
    op.drop_table("build_projects")
