"""Models of the triggers part: V1 webhooks and the last revision seen of each source."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from stageline.persistence.models import Base
from stageline.persistence.types import UTCDateTime

__all__ = ["Base", "SourceWatch", "Webhook"]


class Webhook(Base):
    """A PutWebhook definition. The secret token is stored encrypted, apart from the
    definition, so that no view of the definition can carry it."""

    __tablename__ = "webhooks"

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    pipeline_name: Mapped[str] = mapped_column(String(100), index=True)
    action_name: Mapped[str] = mapped_column(String(100))
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    secret: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    # The unguessable part of the webhook URL; a new one on every create.
    token: Mapped[str] = mapped_column(String(64), unique=True)
    hook_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    error_code: Mapped[str | None] = mapped_column(String(100), nullable=True)
    error_message: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    last_triggered: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SourceWatch(Base):
    """The newest revision a source action was started on by change detection (or first seen
    at), so that polling and webhooks start each revision once. Moved on only by a
    conditional UPDATE from the value it was read at."""

    __tablename__ = "source_watches"
    __table_args__ = (UniqueConstraint("pipeline_id", "action_name"),)

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    pipeline_id: Mapped[int] = mapped_column(ForeignKey("pipelines.id", ondelete="CASCADE"))
    action_name: Mapped[str] = mapped_column(String(100))
    revision: Mapped[str | None] = mapped_column(String(1500), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
