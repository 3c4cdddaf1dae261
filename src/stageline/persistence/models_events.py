"""Models of the events part (kept apart from models.py so each module stays small)."""

from __future__ import annotations

from stageline.persistence.models import Base

__all__ = ["Base"]
