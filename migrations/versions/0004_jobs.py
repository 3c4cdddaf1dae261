"""Jobs and custom action types: the CodePipeline job protocol.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 08:59:50.783720
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from stageline.persistence.types import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "custom_action_types",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("owner", sa.String(length=16), nullable=False),
        sa.Column("provider", sa.String(length=35), nullable=False),
        sa.Column("version", sa.String(length=9), nullable=False),
        sa.Column("declaration", sa.JSON(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("deleted_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_custom_action_types")),
        sa.UniqueConstraint(
            "category", "owner", "provider", "version", name=op.f("uq_custom_action_types_category")
        ),
    )
    op.create_table(
        "jobs",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("job_id", sa.String(length=36), nullable=False),
        sa.Column("action_pk", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("owner", sa.String(length=16), nullable=False),
        sa.Column("provider", sa.String(length=35), nullable=False),
        sa.Column("version", sa.String(length=9), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("nonce", sa.String(length=50), nullable=True),
        sa.Column("client_token", sa.String(length=256), nullable=True),
        sa.Column("query", sa.JSON(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("access_key_id", sa.String(length=32), nullable=True),
        sa.Column("secret_access_key", sa.String(length=64), nullable=True),
        sa.Column("session_token", sa.String(length=128), nullable=True),
        sa.Column("credentials_expire_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("dispatched_at", UTCDateTime(), nullable=True),
        sa.Column("acknowledged_at", UTCDateTime(), nullable=True),
        sa.Column("ended_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["action_pk"],
            ["action_executions.pk"],
            name=op.f("fk_jobs_action_pk_action_executions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_jobs")),
        sa.UniqueConstraint("access_key_id", name=op.f("uq_jobs_access_key_id")),
        sa.UniqueConstraint("job_id", name=op.f("uq_jobs_job_id")),
    )
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_jobs_action_pk"), ["action_pk"], unique=False)
        batch_op.create_index(batch_op.f("ix_jobs_status"), ["status"], unique=False)

    with op.batch_alter_table("action_executions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("awaits_job", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("action_executions", schema=None) as batch_op:
        batch_op.drop_column("awaits_job")

    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_jobs_status"))
        batch_op.drop_index(batch_op.f("ix_jobs_action_pk"))

    op.drop_table("jobs")
    op.drop_table("custom_action_types")
