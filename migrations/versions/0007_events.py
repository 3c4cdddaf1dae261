"""Tables of the events part (see stageline.persistence.models_events): the events outbox,
notification rules and targets, and deliveries.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27 11:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from stageline.persistence.types import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("pipeline_id", sa.Integer(), nullable=False),
        sa.Column("pipeline_name", sa.String(length=100), nullable=False),
        sa.Column("execution_id", sa.String(length=36), nullable=False),
        sa.Column("detail_type", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("event_type_id", sa.String(length=100), nullable=True),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_events")),
        sa.UniqueConstraint("event_id", name=op.f("uq_events_event_id")),
    )
    op.create_index(op.f("ix_events_created_at"), "events", ["created_at"], unique=False)
    op.create_index(op.f("ix_events_execution_id"), "events", ["execution_id"], unique=False)
    op.create_index(op.f("ix_events_pipeline_id"), "events", ["pipeline_id"], unique=False)
    op.create_index(op.f("ix_events_pipeline_name"), "events", ["pipeline_name"], unique=False)
    op.create_table(
        "notification_rules",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("rule_id", sa.String(length=40), nullable=False),
        sa.Column("arn", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("resource", sa.String(length=1011), nullable=False),
        sa.Column("event_type_ids", sa.JSON(), nullable=False),
        sa.Column("detail_type", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("client_request_token", sa.String(length=256), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_notification_rules")),
        sa.UniqueConstraint("arn", name=op.f("uq_notification_rules_arn")),
        sa.UniqueConstraint("name", name=op.f("uq_notification_rules_name")),
        sa.UniqueConstraint("rule_id", name=op.f("uq_notification_rules_rule_id")),
    )
    op.create_index(
        op.f("ix_notification_rules_resource"), "notification_rules", ["resource"], unique=False
    )
    op.create_table(
        "notification_targets",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("target_type", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("secret", sa.String(length=512), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_notification_targets")),
        sa.UniqueConstraint("address", name=op.f("uq_notification_targets_address")),
    )
    op.create_table(
        "event_deliveries",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("event_pk", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("address", sa.String(length=1024), nullable=False),
        sa.Column("rule_arn", sa.String(length=200), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("lease_token", sa.Integer(), nullable=False),
        sa.Column("lease_expires_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("delivered_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["event_pk"],
            ["events.pk"],
            name=op.f("fk_event_deliveries_event_pk_events"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_event_deliveries")),
    )
    op.create_index(
        "ix_event_deliveries_address_status",
        "event_deliveries",
        ["address", "status"],
        unique=False,
    )
    op.create_index(
        op.f("ix_event_deliveries_created_at"), "event_deliveries", ["created_at"], unique=False
    )
    op.create_index(
        op.f("ix_event_deliveries_event_pk"), "event_deliveries", ["event_pk"], unique=False
    )
    op.create_index(
        op.f("ix_event_deliveries_status"), "event_deliveries", ["status"], unique=False
    )
    op.create_table(
        "notification_rule_targets",
        sa.Column("rule_pk", sa.Integer(), nullable=False),
        sa.Column("target_pk", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["rule_pk"],
            ["notification_rules.pk"],
            name=op.f("fk_notification_rule_targets_rule_pk_notification_rules"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["target_pk"],
            ["notification_targets.pk"],
            name=op.f("fk_notification_rule_targets_target_pk_notification_targets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("rule_pk", "target_pk", name=op.f("pk_notification_rule_targets")),
    )
    op.create_index(
        op.f("ix_notification_rule_targets_target_pk"),
        "notification_rule_targets",
        ["target_pk"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_notification_rule_targets_target_pk"), table_name="notification_rule_targets"
    )
    op.drop_table("notification_rule_targets")
    op.drop_index(op.f("ix_event_deliveries_status"), table_name="event_deliveries")
    op.drop_index(op.f("ix_event_deliveries_event_pk"), table_name="event_deliveries")
    op.drop_index(op.f("ix_event_deliveries_created_at"), table_name="event_deliveries")
    op.drop_index("ix_event_deliveries_address_status", table_name="event_deliveries")
    op.drop_table("event_deliveries")
    op.drop_table("notification_targets")
    op.drop_index(op.f("ix_notification_rules_resource"), table_name="notification_rules")
    op.drop_table("notification_rules")
    op.drop_index(op.f("ix_events_pipeline_name"), table_name="events")
    op.drop_index(op.f("ix_events_pipeline_id"), table_name="events")
    op.drop_index(op.f("ix_events_execution_id"), table_name="events")
    op.drop_index(op.f("ix_events_created_at"), table_name="events")
    op.drop_table("events")
