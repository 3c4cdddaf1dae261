"""Models of the events part (kept apart from models.py so each module stays small).

- `events`: the outbox. One row per pipeline, stage or action state change, in EventBridge's
  format, written in the transaction of the change itself.
- `notification_rules`, `notification_targets` (+ the link table): the CodeStar
  Notifications API's resources.
- `event_deliveries`: one row per (event or approval message, target), delivered after
  commit, at least once and in order per target address, by whichever process claims it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from stageline.persistence.models import Base
from stageline.persistence.types import UTCDateTime


class Event(Base):
    __tablename__ = "events"

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    pipeline_id: Mapped[int] = mapped_column(Integer, index=True)
    pipeline_name: Mapped[str] = mapped_column(String(100), index=True)
    execution_id: Mapped[str] = mapped_column(String(36), index=True)
    detail_type: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))
    # The notification event type id (codepipeline-pipeline-...), None for no such type.
    event_type_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class NotificationRule(Base):
    __tablename__ = "notification_rules"

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    rule_id: Mapped[str] = mapped_column(String(40), unique=True)
    arn: Mapped[str] = mapped_column(String(200), unique=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    resource: Mapped[str] = mapped_column(String(1011), index=True)
    event_type_ids: Mapped[list[str]] = mapped_column(JSON)
    detail_type: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(8))
    created_by: Mapped[str] = mapped_column(String(200))
    client_request_token: Mapped[str | None] = mapped_column(String(256), nullable=True)
    tags: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class NotificationTarget(Base):
    """A target address (SNS topic ARN or webhook URL), shared by the rules subscribing it."""

    __tablename__ = "notification_targets"

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    address: Mapped[str] = mapped_column(String(320), unique=True)
    target_type: Mapped[str] = mapped_column(String(32))
    # ACTIVE, or UNREACHABLE while its latest delivery attempt failed.
    status: Mapped[str] = mapped_column(String(16))
    # Webhook targets: the HMAC-SHA256 key of their signature header, encrypted with the
    # SecretBox (readable through REST only, never logged).
    secret: Mapped[str | None] = mapped_column(String(512), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class NotificationRuleTarget(Base):
    __tablename__ = "notification_rule_targets"

    rule_pk: Mapped[int] = mapped_column(
        ForeignKey("notification_rules.pk", ondelete="CASCADE"), primary_key=True
    )
    target_pk: Mapped[int] = mapped_column(
        ForeignKey("notification_targets.pk", ondelete="CASCADE"), primary_key=True, index=True
    )


class EventDelivery(Base):
    """One message to one address. Claimed with a lease (conditional UPDATE); only the
    oldest undelivered row of an address is claimable, so each address gets them in order."""

    __tablename__ = "event_deliveries"
    __table_args__ = (Index("ix_event_deliveries_address_status", "address", "status"),)

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_pk: Mapped[int | None] = mapped_column(
        ForeignKey("events.pk", ondelete="CASCADE"), nullable=True, index=True
    )
    kind: Mapped[str] = mapped_column(String(16))  # sns | webhook | commit_status
    address: Mapped[str] = mapped_column(String(1024))
    rule_arn: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # What is sent: the notification, the approval message, or the commit status request.
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), index=True)  # pending | failed | delivered
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    lease_token: Mapped[int] = mapped_column(Integer, default=0)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    event: Mapped[Event | None] = relationship()
