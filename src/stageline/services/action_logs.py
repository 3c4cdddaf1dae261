"""Action logs in the database, so the API can stream them while a worker elsewhere writes."""

from __future__ import annotations

import logging
import threading
import time

from sqlalchemy import select

from stageline.persistence.db import Database
from stageline.persistence.models import ActionLog
from stageline.services.ports import Clock, utcnow

log = logging.getLogger("stageline.logs")
FLUSH_SECONDS = 0.25
FLUSH_BYTES = 16 * 1024


class DbLogSink:
    """Buffers log text and writes it in chunks: often enough to follow live, rarely enough
    not to turn every line into a transaction."""

    def __init__(self, db: Database, action_pk: int, clock: Clock = utcnow) -> None:
        self.db = db
        self.action_pk = action_pk
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
                    uow.session.add(ActionLog(action_pk=self.action_pk, text=text, at=self.clock()))
            except Exception as exc:
                # Best effort: a lost chunk (database away, action row deleted) must not crash
                # the provider or keep the heartbeat from checking the lease.
                log.warning(
                    "dropped %d characters of log of action %s: %s", len(text), self.action_pk, exc
                )


def read_log(db: Database, action_pk: int, after: int = 0) -> tuple[str, int]:
    """Log text written after chunk `after`, and the last chunk id (a cursor for follow)."""
    with db.unit_of_work(write=False) as uow:
        rows = list(
            uow.session.execute(
                select(ActionLog.pk, ActionLog.text)
                .where(ActionLog.action_pk == action_pk, ActionLog.pk > after)
                .order_by(ActionLog.pk)
            )
        )
    if not rows:
        return "", after
    return "".join(r.text for r in rows), rows[-1].pk
