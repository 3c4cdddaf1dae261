"""Action and build logs in the database, so the API can stream them while a worker elsewhere
writes."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select

from stageline.persistence.db import Database
from stageline.persistence.models import ActionLog, BuildLog
from stageline.services.ports import Clock, utcnow

log = logging.getLogger("stageline.logs")
FLUSH_SECONDS = 0.25
FLUSH_BYTES = 16 * 1024


class DbLogSink:
    """Buffers log text and writes it in chunks: often enough to follow live, rarely enough
    not to turn every line into a transaction."""

    def __init__(
        self, db: Database, row: Callable[[str, datetime], Any], what: str, clock: Clock = utcnow
    ) -> None:
        self.db = db
        self.row = row  # makes the chunk's row: ActionLog or BuildLog
        self.what = what  # for the warning when a chunk is lost
        self.clock = clock
        self._buffer: list[str] = []
        self._size = 0
        self._last_flush = time.monotonic()
        self._lock = threading.Lock()

    def write(self, text: str) -> None:
        with self._lock:
            self._buffer.append(text)
            self._size += len(text)
            due = self._size >= FLUSH_BYTES or time.monotonic() - self._last_flush >= FLUSH_SECONDS
        if due:
            self.flush()

    def take(self) -> str:
        """What is still buffered, handed over for the caller's own transaction."""
        with self._lock:
            text, self._buffer, self._size = "".join(self._buffer), [], 0
            return text

    def flush(self) -> None:
        with self._lock:
            if not self._buffer:
                return
            text, self._buffer, self._size = "".join(self._buffer), [], 0
            self._last_flush = time.monotonic()
            try:
                with self.db.unit_of_work() as uow:
                    uow.session.add(self.row(text, self.clock()))
            except Exception as exc:
                # Best effort: a lost chunk (database away, action row deleted) must not crash
                # the provider or keep the heartbeat from checking the lease.
                log.warning("dropped %d characters of log of %s: %s", len(text), self.what, exc)

    @classmethod
    def for_action(cls, db: Database, action_pk: int, clock: Clock = utcnow) -> DbLogSink:
        return cls(
            db,
            lambda t, at: ActionLog(action_pk=action_pk, text=t, at=at),
            f"action {action_pk}",
            clock,
        )

    @classmethod
    def for_build(cls, db: Database, build_pk: int, clock: Clock = utcnow) -> DbLogSink:
        return cls(
            db, lambda t, at: BuildLog(build_pk=build_pk, text=t, at=at), f"build {build_pk}", clock
        )


def read_log(db: Database, action_pk: int, after: int = 0) -> tuple[str, int]:
    """Log text written after chunk `after`, and the last chunk id (a cursor for follow)."""
    return _read(db, ActionLog, ActionLog.action_pk == action_pk, after)


def read_build_log(db: Database, build_pk: int, after: int = 0) -> tuple[str, int]:
    """A standalone build's log, as read_log."""
    return _read(db, BuildLog, BuildLog.build_pk == build_pk, after)


def _read(db: Database, model: Any, owner: Any, after: int) -> tuple[str, int]:
    with db.unit_of_work(write=False) as uow:
        rows = list(
            uow.session.execute(
                select(model.pk, model.text).where(owner, model.pk > after).order_by(model.pk)
            )
        )
    if not rows:
        return "", after
    return "".join(r.text for r in rows), rows[-1].pk
