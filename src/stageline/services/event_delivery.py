"""Delivering the outbox: at least once, in order per target address, retried with capped
exponential backoff, failures kept visible on the rows.

Every process that runs the reconciler runs a `DeliveryThread`. A pass claims the oldest
undelivered row of each address whose retry is due with a conditional UPDATE (lease expired
or unset → bump `lease_token`), so processes never send the same row at once and a later row
of an address waits until the earlier one is through. The send happens outside any
transaction; the result is recorded only under the lease token the sender got. A process
that dies mid-send leaves its lease to expire; the row is then sent again (at least once).
After a successful send the pass claims that address's next due row the same way and goes on,
up to `RUN_ROWS` rows or `RUN_SECONDS` per address, so a burst is not paced by the pass
interval while shutdown stays prompt.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, exists, select, update
from sqlalchemy.orm import Session, aliased

from stageline.persistence.db import Database
from stageline.persistence.models_events import Event, EventDelivery, NotificationTarget
from stageline.services.event_targets import NotDeliverable, Outgoing, Sender, SendFailed
from stageline.services.events import WAKE
from stageline.services.periodic import PeriodicThread
from stageline.services.ports import Clock, utcnow
from stageline.services.secret_box import SecretBox

log = logging.getLogger("stageline.events")
OPEN = ("pending", "failed")
BATCH = 50
RUN_ROWS = 50  # per address per pass: a backlog drains without waiting for the next tick
RUN_SECONDS = 2.0  # ... but a pass ends soon enough for a prompt shutdown


@dataclass(frozen=True)
class DeliverySettings:
    retention_days: int = 30
    lease_seconds: float = 60.0
    backoff_base_seconds: float = 1.0
    backoff_cap_seconds: float = 300.0
    prune_every_seconds: float = 300.0


def backoff(attempts: int, settings: DeliverySettings) -> float:
    """Seconds before the next try after `attempts` failures: 1, 2, 4, ... up to the cap."""
    exponent = min(max(attempts - 1, 0), 30)
    return float(min(settings.backoff_base_seconds * 2**exponent, settings.backoff_cap_seconds))


class Deliverer:
    def __init__(
        self,
        db: Database,
        senders: Mapping[str, Sender],
        settings: DeliverySettings | None = None,
        clock: Clock = utcnow,
        box: SecretBox | None = None,
    ) -> None:
        self.db, self.senders, self.clock = db, senders, clock
        self.settings = settings or DeliverySettings()
        self.box = box  # decrypts webhook targets' signing keys
        self._last_prune = 0.0

    def run_once(self) -> int:
        """One pass: send every claimable row once; the number sent successfully."""
        self._maybe_prune()
        sent = 0
        for claimed in self._claim():
            sent += self._send_run(claimed)
        return sent

    def _send_run(self, claimed: tuple[Outgoing, int]) -> int:
        """Send a claimed row, then that address's next due rows while sends succeed."""
        started, sent = time.monotonic(), 0
        while True:
            item, token = claimed
            if not self._send(item, token):
                return sent
            sent += 1
            if sent >= RUN_ROWS or time.monotonic() - started >= RUN_SECONDS:
                return sent
            following = self._claim(item.address)
            if not following:
                return sent
            claimed = following[0]

    # -- claiming ----------------------------------------------------------------------
    def _claim(self, address: str | None = None) -> list[tuple[Outgoing, int]]:
        """The head row of each address (or of `address` alone), claimed under a lease."""
        now = self.clock()
        earlier = aliased(EventDelivery)
        free = (EventDelivery.lease_expires_at.is_(None)) | (EventDelivery.lease_expires_at < now)
        head = ~exists().where(
            earlier.address == EventDelivery.address,
            earlier.status.in_(OPEN),
            earlier.pk < EventDelivery.pk,
        )
        query = (
            select(EventDelivery.pk)
            .where(EventDelivery.status.in_(OPEN), EventDelivery.next_attempt_at <= now, head)
            .where(free)
            .order_by(EventDelivery.pk)
            .limit(BATCH)
        )
        if address is not None:
            query = query.where(EventDelivery.address == address)
        # Look first without the write lock (SQLite's is database-wide): most passes find none.
        with self.db.unit_of_work(write=False) as uow:
            due = list(uow.session.scalars(query))
        claimed: list[tuple[Outgoing, int]] = []
        if not due:
            return claimed
        with self.db.unit_of_work() as uow:
            session = uow.session
            for pk in due:
                token = session.scalar(
                    update(EventDelivery)
                    .where(
                        EventDelivery.pk == pk,
                        EventDelivery.status.in_(OPEN),
                        EventDelivery.next_attempt_at <= now,  # not retried early
                        free,
                    )
                    .values(
                        lease_token=EventDelivery.lease_token + 1,
                        lease_expires_at=now + timedelta(seconds=self.settings.lease_seconds),
                    )
                    .returning(EventDelivery.lease_token)
                    .execution_options(synchronize_session=False)
                )
                if token is None:
                    continue  # another process took it between the read and the update
                row = session.get(EventDelivery, pk)
                assert row is not None
                claimed.append((self._outgoing(session, row), int(token)))
        return claimed

    def _outgoing(self, session: Session, row: EventDelivery) -> Outgoing:
        event_id = None
        if row.event_pk is not None:
            event_id = session.scalar(select(Event.event_id).where(Event.pk == row.event_pk))
        secret = None
        if row.kind == "webhook":
            secret = session.scalar(
                select(NotificationTarget.secret).where(NotificationTarget.address == row.address)
            )
        if secret is not None and self.box is not None:
            secret = self.box.decrypt(secret)
        return Outgoing(row.pk, row.kind, row.address, dict(row.payload), event_id, secret)

    # -- sending -----------------------------------------------------------------------
    def _send(self, item: Outgoing, token: int) -> int:
        sender = self.senders.get(item.kind)
        error: str | None = None
        final = False
        try:
            if sender is None:
                raise SendFailed(f"no sender for {item.kind} deliveries in this process")
            sender(item)
        except SendFailed as exc:
            error, final = str(exc)[:2000], isinstance(exc, NotDeliverable)
        except Exception as exc:  # a bug in one sender must not stop the loop
            log.exception("delivery %s failed unexpectedly", item.pk)
            error = f"{type(exc).__name__}"
        self._record(item, token, error, final)
        return 1 if error is None else 0

    def _record(self, item: Outgoing, token: int, error: str | None, final: bool) -> None:
        now = self.clock()
        with self.db.unit_of_work() as uow:
            session = uow.session
            row = session.get(EventDelivery, item.pk)
            if row is None or row.lease_token != token:
                return  # pruned, or our lease expired and another process has it now
            row.attempts += 1
            row.lease_expires_at = None
            if error is None:
                row.status, row.delivered_at, row.last_error = "delivered", now, None
            elif final:
                row.status, row.last_error = "dropped", error
                log.warning("delivery %s to %s dropped: %s", row.pk, row.kind, error)
            else:
                row.status, row.last_error = "failed", error
                row.next_attempt_at = now + timedelta(seconds=backoff(row.attempts, self.settings))
                log.warning(
                    "delivery %s to %s failed (attempt %d): %s",
                    row.pk,
                    row.kind,
                    row.attempts,
                    error,
                )
            if item.kind in ("sns", "webhook"):
                session.execute(
                    update(NotificationTarget)
                    .where(NotificationTarget.address == item.address)
                    .values(status="ACTIVE" if error is None else "UNREACHABLE")
                )

    # -- retention ---------------------------------------------------------------------
    def _maybe_prune(self) -> None:
        if time.monotonic() - self._last_prune < self.settings.prune_every_seconds:
            return
        self._last_prune = time.monotonic()
        self.prune()

    def prune(self, now: datetime | None = None) -> int:
        """Forget events (and their deliveries) past the retention time."""
        cutoff = (now or self.clock()) - timedelta(days=self.settings.retention_days)
        with self.db.unit_of_work() as uow:
            session = uow.session
            old = select(Event.pk).where(Event.created_at < cutoff)
            session.execute(
                delete(EventDelivery)
                .where(
                    (EventDelivery.event_pk.in_(old))
                    | and_(EventDelivery.event_pk.is_(None), EventDelivery.created_at < cutoff)
                )
                .execution_options(synchronize_session=False)
            )
            result = session.execute(
                delete(Event)
                .where(Event.created_at < cutoff)
                .execution_options(synchronize_session=False)
            )
            count = int(getattr(result, "rowcount", 0) or 0)
        if count:
            log.info("pruned %d events older than %d days", count, self.settings.retention_days)
        return count


class DeliveryThread(PeriodicThread):
    """Runs delivery passes: at once when this process commits an event with deliveries,
    else every `interval` seconds (other processes' events)."""

    def __init__(self, deliverer: Deliverer, interval: float = 0.5) -> None:
        # A pass may be sending to slow receivers: a longer grace on shutdown.
        super().__init__(
            "event-delivery", deliverer.run_once, interval, log, wake=WAKE, join_timeout=15
        )
        self.deliverer = deliverer


# -- reading (REST) ------------------------------------------------------------------------
def list_events(
    session: Session,
    *,
    pipeline: str | None = None,
    execution_id: str | None = None,
    after: int = 0,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Stored events in the order they happened, after the sequence number `after`."""
    query = select(Event).where(Event.pk > after).order_by(Event.pk).limit(limit)
    if pipeline:
        query = query.where(Event.pipeline_name == pipeline)
    if execution_id:
        query = query.where(Event.execution_id == execution_id)
    return [{"sequence": e.pk, "event": e.body} for e in session.scalars(query)]


def list_deliveries(
    session: Session, *, status: str | None = None, after: int = 0, limit: int = 100
) -> list[dict[str, Any]]:
    query = (
        select(EventDelivery, Event.event_id)
        .outerjoin(Event, Event.pk == EventDelivery.event_pk)
        .where(EventDelivery.pk > after)
        .order_by(EventDelivery.pk)
        .limit(limit)
    )
    if status:
        query = query.where(EventDelivery.status == status)
    return [
        {
            "id": row.pk,
            "eventId": event_id,
            "kind": row.kind,
            "address": row.address,
            "ruleArn": row.rule_arn,
            "status": row.status,
            "attempts": row.attempts,
            "lastError": row.last_error,
            "nextAttemptAt": row.next_attempt_at if row.status != "delivered" else None,
            "createdAt": row.created_at,
            "deliveredAt": row.delivered_at,
        }
        for row, event_id in session.execute(query)
    ]
