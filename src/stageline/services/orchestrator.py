"""The orchestrator: the one writer of execution, stage and action statuses.

Every method runs under the pipeline's row lock (SELECT ... FOR UPDATE on Postgres; SQLite's
write transactions are serial), checks each move against domain/status.py and records it in
status_changes. State is re-derived from rows each time (which stage an execution is at, the
latest result of each action), so running any step twice changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from stageline.domain.planner import plan_stage
from stageline.domain.status import (
    ACTION_MOVES,
    EXECUTION_MOVES,
    STAGE_MOVES,
    ActionStatus,
    ExecutionStatus,
    StageStatus,
    check_move,
)
from stageline.persistence.db import UnitOfWork
from stageline.persistence.models import (
    ActionExecution,
    Pipeline,
    PipelineExecution,
    StageExecution,
    StageTransition,
    StatusChange,
)
from stageline.services import events
from stageline.services.pipelines import Declarations
from stageline.services.ports import Clock, Dispatcher, utcnow
from stageline.services.scheduling import ActionScheduler

ACTIVE = (ExecutionStatus.IN_PROGRESS, ExecutionStatus.STOPPING)
BUSY_STAGE = (StageStatus.IN_PROGRESS, StageStatus.STOPPING)


@dataclass(frozen=True)
class ExecutionSettings:
    lease_seconds: float = 30.0
    action_timeout_minutes: int = 60
    approval_timeout_minutes: int = 7 * 24 * 60
    # A job Dispatched to a worker that does not acknowledge it in this time fails its action.
    job_ack_timeout_seconds: float = 300.0
    region: str = "us-east-1"  # for the pipeline ARN in job data
    account_id: str = "000000000000"


class Orchestrator:
    def __init__(
        self,
        uow: UnitOfWork,
        dispatcher: Dispatcher,
        settings: ExecutionSettings | None = None,
        clock: Clock = utcnow,
    ) -> None:
        self.uow = uow
        self.session: Session = uow.session
        self.dispatcher = dispatcher
        self.settings = settings or ExecutionSettings()
        self.clock = clock
        self.declarations = Declarations(self.session)
        self.scheduler = ActionScheduler(self)

    # -- reading -------------------------------------------------------------------------
    def find_pipeline(self, pipeline_id: int) -> Pipeline | None:
        """The pipeline, locked; None when it has been deleted."""
        query = select(Pipeline).where(Pipeline.id == pipeline_id).with_for_update()
        return self.session.scalar(query)

    def lock_pipeline(self, pipeline_id: int) -> Pipeline:
        query = select(Pipeline).where(Pipeline.id == pipeline_id).with_for_update()
        pipeline = self.session.scalar(query)
        assert pipeline is not None
        return pipeline

    def declaration(self, execution: PipelineExecution) -> dict[str, Any]:
        return self.declarations.get(execution.pipeline_id, execution.pipeline_version)

    def stage_execution(self, execution: PipelineExecution, name: str) -> StageExecution | None:
        return self.session.scalar(
            select(StageExecution).where(
                StageExecution.execution_pk == execution.pk, StageExecution.stage_name == name
            )
        )

    def latest_actions(self, stage: StageExecution) -> dict[str, Any]:
        """The latest counted attempt of each action of a stage execution, as light rows
        (action_name, status, stage_attempt, error_message): this runs on every completion."""
        rows = self.session.execute(
            select(
                ActionExecution.action_name,
                ActionExecution.status,
                ActionExecution.stage_attempt,
                ActionExecution.error_message,
            )
            .where(
                ActionExecution.execution_pk == stage.execution_pk,
                ActionExecution.stage_name == stage.stage_name,
                ActionExecution.stage_attempt >= stage.counted_from_attempt,
            )
            .order_by(ActionExecution.pk)
        )
        # Of earlier attempts (FAILED_ACTIONS retry) only successes count: the rest run again.
        return {
            row.action_name: row
            for row in rows
            if row.stage_attempt == stage.attempt or row.status == ActionStatus.SUCCEEDED
        }

    # -- the status writer ---------------------------------------------------------------
    def _record(
        self, execution_pk: int, pipeline_id: int, entity: str, name: str, old: str | None, new: str
    ) -> None:
        change = StatusChange(
            pipeline_id=pipeline_id,
            execution_pk=execution_pk,
            entity=entity,
            name=name,
            old_status=old,
            new_status=new,
            at=self.clock(),
        )
        self.session.add(change)
        # Its event (and notification deliveries) in the same transaction: the outbox.
        events.record(self, change)

    def set_execution(
        self, execution: PipelineExecution, status: ExecutionStatus, summary: str | None = None
    ) -> None:
        if execution.status != status:
            check_move("execution", EXECUTION_MOVES, execution.status, status)
        self._record(
            execution.pk,
            execution.pipeline_id,
            "execution",
            execution.execution_id,
            execution.status,
            status,
        )
        execution.status = status
        if summary is not None:
            execution.status_summary = summary[:2048]
        execution.updated_at = self.clock()

    def set_stage(self, stage: StageExecution, status: StageStatus) -> None:
        check_move("stage", STAGE_MOVES, stage.status, status)
        self._record(
            stage.execution_pk, stage.pipeline_id, "stage", stage.stage_name, stage.status, status
        )
        stage.status = status
        stage.updated_at = self.clock()

    def set_action(
        self, action: ActionExecution, status: ActionStatus, *, fence: bool = False
    ) -> None:
        check_move("action", ACTION_MOVES, action.status, status)
        self.scheduler.forget(action.execution_pk)
        self._record(
            action.execution_pk,
            action.pipeline_id,
            "action",
            f"{action.stage_name}.{action.action_name}",
            action.status,
            status,
        )
        action.status = status
        action.updated_at = self.clock()
        action.lease_expires_at = None
        if fence:
            # A worker still running this attempt loses its lease and cannot record a result.
            action.lease_token += 1

    def new_action(self, action: ActionExecution) -> None:
        # No flush here: autoflush writes it before the next query, and the inserts of a
        # whole runOrder group go to the database together.
        self.session.add(action)
        self._record(
            action.execution_pk,
            action.pipeline_id,
            "action",
            f"{action.stage_name}.{action.action_name}",
            None,
            action.status,
        )

    # -- moving executions forward -------------------------------------------------------
    def transition_open(
        self, pipeline_id: int, stages: Sequence[dict[str, Any]], index: int
    ) -> bool:
        names = {(stages[index]["name"], "Inbound")}
        if index > 0:
            names.add((stages[index - 1]["name"], "Outbound"))
        rows = self.session.scalars(
            select(StageTransition).where(
                StageTransition.pipeline_id == pipeline_id, StageTransition.enabled.is_(False)
            )
        )
        return not any((r.stage_name, r.direction) in names for r in rows)

    def stage_busy(self, execution: PipelineExecution, name: str) -> bool:
        query = select(StageExecution.pk).where(
            StageExecution.pipeline_id == execution.pipeline_id,
            StageExecution.stage_name == name,
            StageExecution.status.in_(BUSY_STAGE),
            StageExecution.execution_pk != execution.pk,
        )
        return self.session.scalar(query.limit(1)) is not None

    def advance(self, pipeline_id: int) -> None:
        """Let waiting executions through their stage boundaries, by the execution mode."""
        waiting = list(
            self.session.scalars(
                select(PipelineExecution)
                .where(
                    PipelineExecution.pipeline_id == pipeline_id,
                    PipelineExecution.status.in_(ACTIVE),
                    PipelineExecution.waiting.is_(True),
                )
                .order_by(PipelineExecution.pk)
            )
        )
        self._supersede(waiting)
        for execution in waiting:
            # Re-check: entering one execution's stage can end it at once, and that inner
            # advance may already have let later ones in (or stopped them).
            if not execution.waiting:
                continue
            if execution.status == ExecutionStatus.STOPPING:
                self.set_execution(execution, ExecutionStatus.STOPPED)
            elif execution.status == ExecutionStatus.IN_PROGRESS:
                self._try_enter(execution)

    def _supersede(self, waiting: list[PipelineExecution]) -> None:
        # SUPERSEDED: at each boundary only the newest waiting execution survives.
        newest: dict[int, PipelineExecution] = {}
        for execution in waiting:  # ordered oldest first
            if execution.execution_mode != "SUPERSEDED" or execution.status != "InProgress":
                continue
            older = newest.get(execution.stage_index)
            if older is not None:
                self.set_execution(
                    older,
                    ExecutionStatus.SUPERSEDED,
                    f"Superseded by execution {execution.execution_id}",
                )
            newest[execution.stage_index] = execution

    def _try_enter(self, execution: PipelineExecution) -> None:
        if not execution.waiting or execution.status != ExecutionStatus.IN_PROGRESS:
            return
        stages = self.declaration(execution)["stages"]
        index = execution.stage_index
        if not self.transition_open(execution.pipeline_id, stages, index):
            return
        name = stages[index]["name"]
        if execution.execution_mode != "PARALLEL" and self.stage_busy(execution, name):
            return
        now = self.clock()
        stage = StageExecution(
            execution_pk=execution.pk,
            pipeline_id=execution.pipeline_id,
            stage_name=name,
            stage_index=index,
            status=StageStatus.IN_PROGRESS,
            attempt=1,
            counted_from_attempt=1,
            started_at=now,
            updated_at=now,
        )
        self.session.add(stage)
        self.session.flush()
        self._record(execution.pk, execution.pipeline_id, "stage", name, None, stage.status)
        execution.waiting = False
        execution.updated_at = now
        self.progress(execution)

    def progress(self, execution: PipelineExecution) -> None:
        """Start the next runOrder group, or end the stage (and maybe the execution)."""
        if execution.waiting or execution.status not in ACTIVE:
            return
        stage_decl = self.declaration(execution)["stages"][execution.stage_index]
        stage = self.stage_execution(execution, stage_decl["name"])
        assert stage is not None
        latest = self.latest_actions(stage)
        plan = plan_stage(
            stage_decl["actions"],
            {name: row.status for name, row in latest.items()},
            may_start=execution.status == ExecutionStatus.IN_PROGRESS,
        )
        if plan.running:
            return
        if plan.start:
            by_name = {a["name"]: a for a in stage_decl["actions"]}
            started = [self.scheduler.schedule(execution, stage, by_name[n]) for n in plan.start]
            if any(row.status != ActionStatus.IN_PROGRESS for row in started):
                self.progress(execution)  # one ended at once (a variable that won't resolve)
        elif plan.succeeded:
            self._stage_succeeded(execution, stage)
        else:
            self._stage_ended_early(execution, stage, latest, failed=plan.failed)

    def _stage_succeeded(self, execution: PipelineExecution, stage: StageExecution) -> None:
        self.set_stage(stage, StageStatus.SUCCEEDED)
        stages = self.declaration(execution)["stages"]
        if execution.status == ExecutionStatus.STOPPING:
            self.set_execution(execution, ExecutionStatus.STOPPED)
        elif execution.stage_index + 1 >= len(stages):
            self.set_execution(execution, ExecutionStatus.SUCCEEDED)
        else:
            execution.stage_index += 1
            execution.waiting = True
        self.advance(execution.pipeline_id)

    def _stage_ended_early(
        self,
        execution: PipelineExecution,
        stage: StageExecution,
        latest: dict[str, Any],
        *,
        failed: bool,
    ) -> None:
        stopping = execution.status == ExecutionStatus.STOPPING
        if failed and not any(a.status == ActionStatus.ABANDONED for a in latest.values()):
            self.set_stage(stage, StageStatus.FAILED)
        else:
            self.set_stage(stage, StageStatus.STOPPED)
        if stopping:
            self.set_execution(execution, ExecutionStatus.STOPPED)
        else:
            bad = [a for a in latest.values() if a.status == ActionStatus.FAILED]
            summary = bad[0].error_message if bad else None
            self.set_execution(execution, ExecutionStatus.FAILED, summary)
        self.advance(execution.pipeline_id)

    def finish_action(
        self, action: ActionExecution, status: ActionStatus, *, fence: bool = False
    ) -> None:
        """Record an action's end, then move its execution on."""
        self.set_action(action, status, fence=fence)
        execution = self.session.get(PipelineExecution, action.execution_pk)
        assert execution is not None
        self.progress(execution)

    def after_commit_dispatch(self, action_execution_id: str, delay: float = 0.0) -> None:
        dispatcher = self.dispatcher
        self.uow.after_commit(
            lambda: dispatcher.dispatch_action(action_execution_id, delay_seconds=delay)
        )

    @staticmethod
    def lease_for(settings: ExecutionSettings) -> timedelta:
        return timedelta(seconds=settings.lease_seconds)
