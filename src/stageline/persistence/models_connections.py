"""Models of the connections part (kept apart from models.py so each module stays small).

Hosts and connections of the codeconnections / codestar-connections APIs. Credentials and the
webhook secret are stored encrypted (services/secret_box.py); tags live in the shared `tags`
table under the resource's ARN.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from stageline.persistence.models import Base
from stageline.persistence.types import UTCDateTime

__all__ = ["Base", "Connection", "ConnectionHost"]


class ConnectionHost(Base):
    """A git server (CreateHost): where repositories of its connections are found."""

    __tablename__ = "connection_hosts"

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # The ARN's resource after "host/": "<name>-<8 hex>", as AWS shapes it.
    host_id: Mapped[str] = mapped_column(String(80), unique=True)
    service: Mapped[str] = mapped_column(String(32))  # the API that made it: its ARN prefix
    name: Mapped[str] = mapped_column(String(64))
    provider_type: Mapped[str] = mapped_column(String(32))
    provider_endpoint: Mapped[str] = mapped_column(String(512))
    status: Mapped[str] = mapped_column(String(32))
    vpc_configuration: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Connection(Base):
    """A connection (CreateConnection): PENDING until credentials are given, then AVAILABLE."""

    __tablename__ = "connections"

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    connection_id: Mapped[str] = mapped_column(String(36), unique=True)  # the ARN's uuid
    service: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(32))
    provider_type: Mapped[str] = mapped_column(String(32))
    host_pk: Mapped[int | None] = mapped_column(
        ForeignKey("connection_hosts.pk", ondelete="RESTRICT"), index=True, nullable=True
    )
    status: Mapped[str] = mapped_column(String(16))
    # token | basic | ssh | anonymous; None while PENDING.
    credential_kind: Mapped[str | None] = mapped_column(String(16), nullable=True)
    credential: Mapped[str | None] = mapped_column(Text, nullable=True)  # encrypted JSON
    webhook_secret: Mapped[str] = mapped_column(Text)  # encrypted
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    host: Mapped[ConnectionHost | None] = relationship(lazy="joined")
