"""Tables of the triggers part (see stageline.persistence.models_triggers).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 11:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from stageline.persistence.types import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "webhooks",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("pipeline_name", sa.String(length=100), nullable=False),
        sa.Column("action_name", sa.String(length=100), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("secret", sa.String(length=2048), nullable=True),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("hook_id", sa.String(length=100), nullable=True),
        sa.Column("error_code", sa.String(length=100), nullable=True),
        sa.Column("error_message", sa.String(length=2048), nullable=True),
        sa.Column("last_triggered", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_webhooks")),
        sa.UniqueConstraint("name", name=op.f("uq_webhooks_name")),
        sa.UniqueConstraint("token", name=op.f("uq_webhooks_token")),
    )
    with op.batch_alter_table("webhooks", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_webhooks_pipeline_name"), ["pipeline_name"], unique=False
        )
    op.create_table(
        "source_watches",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("pipeline_id", sa.Integer(), nullable=False),
        sa.Column("action_name", sa.String(length=100), nullable=False),
        sa.Column("revision", sa.String(length=1500), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["pipeline_id"],
            ["pipelines.id"],
            name=op.f("fk_source_watches_pipeline_id_pipelines"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_source_watches")),
        sa.UniqueConstraint(
            "pipeline_id", "action_name", name=op.f("uq_source_watches_pipeline_id")
        ),
    )


def downgrade() -> None:
    op.drop_table("source_watches")
    with op.batch_alter_table("webhooks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_webhooks_pipeline_name"))
    op.drop_table("webhooks")
