"""The reconciler: nothing stays InProgress forever, nothing dispatched is lost.

Each pass (every process that runs actions runs one; passes are safe to overlap):
- fails actions past their timeout (fencing out any worker still running them), approvals
  included;
- re-dispatches actions whose lease expired (the worker died or lost its heartbeat), whose
  message was never claimed within a lease (the broker lost it), or whose continuation is due;
- does the same for standalone builds (StartBuild), and ends FAULT the pipeline builds whose
  action attempt is over or lost its worker;
- fails the actions of jobs polled but never acknowledged, and closes the jobs of actions
  that ended without them (timed out, stopped): TimedOut or Failed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update

from stageline.domain.status import ActionStatus
from stageline.persistence.db import Database
from stageline.persistence.models import ActionExecution, Build, Job
from stageline.services.build_runner import orphaned_pipeline_builds, unheld_build
from stageline.services.jobs import OPEN, JobService
from stageline.services.orchestrator import ExecutionSettings, Orchestrator
from stageline.services.periodic import PeriodicThread
from stageline.services.ports import Clock, Dispatcher, utcnow
from stageline.services.runner import unheld

log = logging.getLogger("stageline.reconciler")


@dataclass
class PassResult:
    timed_out: int = 0
    redispatched: int = 0
    builds_redispatched: int = 0
    builds_orphaned: int = 0
    jobs_expired: int = 0
    jobs_closed: int = 0


class Reconciler:
    def __init__(
        self,
        db: Database,
        dispatcher: Dispatcher,
        settings: ExecutionSettings,
        clock: Clock = utcnow,
    ) -> None:
        self.db, self.dispatcher, self.settings, self.clock = db, dispatcher, settings, clock

    def run_once(self) -> PassResult:
        result = PassResult()
        for pk in self._timed_out():
            try:
                result.timed_out += self._time_out(pk)
            except Exception:  # one bad row must not stop the pass for every other pipeline
                log.exception("timing out action attempt %s failed", pk)
        try:
            result.redispatched = self._redispatch_lost()
        except Exception:
            log.exception("re-dispatching lost work failed")
        try:
            result.jobs_expired = self._expire_jobs()
            result.jobs_closed = self._close_orphaned_jobs()
        except Exception:
            log.exception("reconciling jobs failed")
        try:
            result.builds_redispatched = self._redispatch_lost_builds()
            result.builds_orphaned = self._end_orphaned_builds()
        except Exception:
            log.exception("reconciling builds failed")
        return result

    def _expire_jobs(self) -> int:
        deadline = self.clock() - timedelta(seconds=self.settings.job_ack_timeout_seconds)
        with self.db.unit_of_work(write=False) as uow:
            overdue = list(
                uow.session.scalars(
                    select(Job.pk).where(Job.status == "Dispatched", Job.dispatched_at < deadline)
                )
            )
        expired = 0
        for pk in overdue:
            with self.db.unit_of_work() as uow:
                o = Orchestrator(uow, self.dispatcher, self.settings, self.clock)
                expired += JobService(o, self.settings.account_id).expire_unacknowledged(
                    pk, deadline
                )
        return expired

    def _close_orphaned_jobs(self) -> int:
        ended = select(ActionExecution.pk).where(ActionExecution.status != ActionStatus.IN_PROGRESS)
        with self.db.unit_of_work() as uow:
            done = uow.session.execute(
                update(Job)
                .where(Job.status.in_(OPEN), Job.action_pk.in_(ended.scalar_subquery()))
                .values(status="TimedOut", ended_at=self.clock())
                .execution_options(synchronize_session=False)
            )
            return int(done.rowcount)  # type: ignore[attr-defined]

    def _redispatch_lost_builds(self) -> int:
        """Standalone builds nobody holds, re-sent as attempts are (see _redispatch_lost)."""
        now = self.clock()
        send = self.dispatcher.dispatch_build
        return self._resend(Build, unheld_build(now), Build.build_id, send, "build", now)

    def _end_orphaned_builds(self) -> int:
        now = self.clock()
        with self.db.unit_of_work() as uow:
            ended = uow.session.execute(
                update(Build)
                .where(orphaned_pipeline_builds(now), Build.started_at < now - timedelta(seconds=5))
                .values(status="FAULT", current_phase="COMPLETED", ended_at=now)
                .execution_options(synchronize_session=False)
            )
            count = int(ended.rowcount)  # type: ignore[attr-defined]
        if count:
            log.info("ended %d pipeline build(s) whose action attempt is gone", count)
        return count

    def _timed_out(self) -> list[int]:
        with self.db.unit_of_work(write=False) as uow:
            return list(
                uow.session.scalars(
                    select(ActionExecution.pk).where(
                        ActionExecution.status == ActionStatus.IN_PROGRESS,
                        ActionExecution.timeout_at < self.clock(),
                    )
                )
            )

    def _time_out(self, pk: int) -> int:
        with self.db.unit_of_work() as uow:
            o = Orchestrator(uow, self.dispatcher, self.settings, self.clock)
            pipeline_id = uow.session.scalar(
                select(ActionExecution.pipeline_id).where(ActionExecution.pk == pk)
            )
            if pipeline_id is None:
                return 0
            o.lock_pipeline(pipeline_id)
            row = uow.session.get(ActionExecution, pk, populate_existing=True)
            if row is None or row.status != ActionStatus.IN_PROGRESS:
                return 0
            if row.timeout_at >= self.clock():
                return 0
            row.error_code = "TimedOut"
            row.error_message = (
                f"The action did not finish within its timeout "
                f"(started {row.started_at.isoformat()}, timed out {row.timeout_at.isoformat()})."
            )
            o.finish_action(row, ActionStatus.FAILED, fence=True)
            return 1

    def _redispatch_lost(self) -> int:
        """Re-send attempts nobody holds: the lease expired (or was never taken) and the last
        dispatch is older than a lease. One conditional UPDATE, so an attempt a worker claims
        meanwhile is left alone, and each lost one is re-sent at most once per lease."""
        now = self.clock()
        ident, send = ActionExecution.action_execution_id, self.dispatcher.dispatch_action
        return self._resend(ActionExecution, unheld(now), ident, send, "action attempt", now)

    def _resend(
        self,
        model: Any,
        nobody_holds: Any,
        ident: Any,
        send: Callable[[str], None],
        what: str,
        now: datetime,
    ) -> int:
        grace = Orchestrator.lease_for(self.settings)
        with self.db.unit_of_work() as uow:
            ids = list(
                uow.session.scalars(
                    update(model)
                    .where(
                        nobody_holds,
                        or_(model.dispatched_at.is_(None), model.dispatched_at < now - grace),
                    )
                    .values(dispatched_at=now)
                    .returning(ident)
                    .execution_options(synchronize_session=False)
                )
            )
            for one in ids:
                uow.after_commit(lambda i=one: send(i))  # type: ignore[misc]
        if ids:
            log.info("re-dispatched %d lost %s(s)", len(ids), what)
        return len(ids)


class ReconcilerThread(PeriodicThread):
    """Runs reconciler passes in the background of a serve or worker process."""

    def __init__(self, reconciler: Reconciler, interval: float = 1.0) -> None:
        super().__init__("reconciler", reconciler.run_once, interval, log)
        self.reconciler = reconciler
