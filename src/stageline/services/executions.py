"""Execution use cases: start, stop, retry, stage transitions, approvals.

Each takes the pipeline's lock through the orchestrator, validates against AWS's rules, and
lets the orchestrator write the statuses.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select

from stageline.domain.errors import (
    ActionNotFoundException,
    ApprovalAlreadyCompletedException,
    ConflictException,
    DuplicatedStopRequestException,
    InvalidApprovalTokenException,
    NotLatestPipelineExecutionException,
    PipelineExecutionNotStoppableException,
    PipelineNotFoundException,
    StageNotFoundException,
    StageNotRetryableException,
    ValidationException,
)
from stageline.domain.git_events import branch_problem, commit_id_problem
from stageline.domain.status import ActionStatus, ExecutionStatus, StageStatus
from stageline.identity import Principal
from stageline.persistence.models import (
    ActionExecution,
    Pipeline,
    PipelineExecution,
    StageExecution,
    StageTransition,
)
from stageline.services.execution_views import find_execution
from stageline.services.orchestrator import ACTIVE, Orchestrator


class ExecutionService:
    def __init__(self, orchestrator: Orchestrator) -> None:
        self.o = orchestrator
        self.session = orchestrator.session

    def _pipeline(self, name: str) -> Pipeline:
        found = self.session.scalar(select(Pipeline.id).where(Pipeline.name == name))
        if found is None:
            raise PipelineNotFoundException(f"Pipeline {name} not found.")
        return self.o.lock_pipeline(found)

    def _declaration(self, pipeline: Pipeline) -> dict[str, Any]:
        return self.o.declarations.get(pipeline.id, pipeline.version)

    def execution(self, pipeline: Pipeline, execution_id: str) -> PipelineExecution:
        return find_execution(self.session, pipeline, execution_id)

    # -- start -------------------------------------------------------------------------
    def start(
        self,
        name: str,
        *,
        trigger: str = "StartPipelineExecution",
        trigger_detail: str | None = None,
        variables: Sequence[dict[str, str]] = (),
        client_request_token: str | None = None,
        source_revisions: Sequence[dict[str, str]] = (),
    ) -> str:
        pipeline = self._pipeline(name)
        if client_request_token:
            earlier = self.session.scalar(
                select(PipelineExecution.execution_id).where(
                    PipelineExecution.pipeline_id == pipeline.id,
                    PipelineExecution.client_request_token == client_request_token,
                )
            )
            if earlier is not None:
                return earlier
        decl = self._declaration(pipeline)
        now = self.o.clock()
        execution = PipelineExecution(
            execution_id=str(uuid.uuid4()),
            pipeline_id=pipeline.id,
            pipeline_version=pipeline.version,
            status=ExecutionStatus.IN_PROGRESS,
            execution_mode=decl["executionMode"],
            trigger_type=trigger,
            trigger_detail=trigger_detail,
            client_request_token=client_request_token,
            variables=_variables(decl, variables, required=trigger != "CreatePipeline"),
            source_overrides=_source_overrides(decl, source_revisions),
            stage_index=0,
            waiting=True,
            created_at=now,
            updated_at=now,
        )
        self.session.add(execution)
        self.session.flush()
        self.o._record(
            execution.pk, pipeline.id, "execution", execution.execution_id, None, execution.status
        )
        self.o.advance(pipeline.id)
        return execution.execution_id

    # -- stop --------------------------------------------------------------------------
    def stop(self, name: str, execution_id: str, *, abandon: bool, reason: str | None) -> str:
        pipeline = self._pipeline(name)
        execution = self.execution(pipeline, execution_id)
        if execution.status == ExecutionStatus.STOPPING and not abandon:
            raise DuplicatedStopRequestException(
                f"Execution {execution_id} is already stopping. To stop it at once, stop "
                "and abandon."
            )
        if execution.status not in ACTIVE:
            raise PipelineExecutionNotStoppableException(
                f"Execution {execution_id} is {execution.status} and cannot be stopped."
            )
        execution.stop_mode = "Abandon" if abandon else "StopAndWait"
        execution.stop_reason = reason
        summary = f"Stopped: {reason}" if reason else None
        if execution.status != ExecutionStatus.STOPPING:
            self.o.set_execution(execution, ExecutionStatus.STOPPING, summary)
        if abandon:
            self._abandon(execution)
        elif execution.waiting:
            self.o.set_execution(execution, ExecutionStatus.STOPPED)
        else:
            self._stage_stopping(execution)
            self.o.progress(execution)
        self.o.advance(pipeline.id)
        return execution.execution_id

    def _current_stage(self, execution: PipelineExecution) -> StageExecution | None:
        stages = self.o.declaration(execution)["stages"]
        return self.o.stage_execution(execution, stages[execution.stage_index]["name"])

    def _stage_stopping(self, execution: PipelineExecution) -> None:
        stage = self._current_stage(execution)
        if stage is not None and stage.status == StageStatus.IN_PROGRESS:
            self.o.set_stage(stage, StageStatus.STOPPING)

    def _abandon(self, execution: PipelineExecution) -> None:
        running = self.session.scalars(
            select(ActionExecution).where(
                ActionExecution.execution_pk == execution.pk,
                ActionExecution.status == ActionStatus.IN_PROGRESS,
            )
        )
        for action in running:
            action.error_code, action.error_message = "Abandoned", "Abandoned by a stop request"
            self.o.set_action(action, ActionStatus.ABANDONED, fence=True)
        stage = None if execution.waiting else self._current_stage(execution)
        if stage is not None and stage.status in (StageStatus.IN_PROGRESS, StageStatus.STOPPING):
            self.o.set_stage(stage, StageStatus.STOPPED)
        self.o.set_execution(execution, ExecutionStatus.STOPPED)

    # -- retry -------------------------------------------------------------------------
    def retry(self, name: str, stage_name: str, execution_id: str, mode: str) -> str:
        pipeline = self._pipeline(name)
        execution = self.execution(pipeline, execution_id)
        stages = self.o.declaration(execution)["stages"]
        index = next((i for i, s in enumerate(stages) if s["name"] == stage_name), None)
        stage = self.o.stage_execution(execution, stage_name)
        if index is None or stage is None:
            raise StageNotFoundException(
                f"Stage {stage_name} has not run in execution {execution_id}."
            )
        self._check_retryable(execution, stage)
        later = self.session.scalar(
            select(StageExecution.pk)
            .where(
                StageExecution.pipeline_id == pipeline.id,
                StageExecution.stage_name == stage_name,
                StageExecution.execution_pk > execution.pk,
            )
            .limit(1)
        )
        if later is not None:
            raise NotLatestPipelineExecutionException(
                f"Stage {stage_name} has run in a later execution; {execution_id} is out of date."
            )
        if execution.execution_mode != "PARALLEL" and self.o.stage_busy(execution, stage_name):
            raise ConflictException(f"Another execution is running in stage {stage_name}.")
        stage.attempt += 1
        if mode == "ALL_ACTIONS":
            stage.counted_from_attempt = stage.attempt
        self.o.set_stage(stage, StageStatus.IN_PROGRESS)
        self.o.set_execution(execution, ExecutionStatus.IN_PROGRESS, f"Retrying {stage_name}")
        execution.stage_index, execution.waiting = index, False
        execution.stop_mode = execution.stop_reason = None
        self.o.progress(execution)
        return execution.execution_id

    def _check_retryable(self, execution: PipelineExecution, stage: StageExecution) -> None:
        if stage.status not in (StageStatus.FAILED, StageStatus.STOPPED):
            raise StageNotRetryableException(
                f"Stage {stage.stage_name} is {stage.status}; only a failed or stopped stage "
                "can be retried."
            )
        if execution.status not in (ExecutionStatus.FAILED, ExecutionStatus.STOPPED):
            raise StageNotRetryableException(
                f"Execution {execution.execution_id} is {execution.status}."
            )

    # -- transitions -------------------------------------------------------------------
    def set_transition(
        self,
        name: str,
        stage_name: str,
        direction: str,
        *,
        enabled: bool,
        reason: str | None,
        principal: Principal,
    ) -> None:
        pipeline = self._pipeline(name)
        stages = [s["name"] for s in self._declaration(pipeline)["stages"]]
        if stage_name not in stages:
            raise StageNotFoundException(f"Stage {stage_name} not found in pipeline {name}.")
        row = self.session.get(StageTransition, (pipeline.id, stage_name, direction))
        if row is None:
            row = StageTransition(
                pipeline_id=pipeline.id, stage_name=stage_name, direction=direction
            )
            self.session.add(row)
        row.enabled, row.reason = enabled, None if enabled else reason
        row.changed_by, row.changed_at = principal.arn, self.o.clock()
        self.session.flush()
        if enabled:
            self.o.advance(pipeline.id)

    # -- approvals ---------------------------------------------------------------------
    def put_approval(
        self,
        name: str,
        stage_name: str,
        action_name: str,
        token: str,
        status: str,
        summary: str,
        principal: Principal,
    ) -> datetime:
        pipeline = self._pipeline(name)
        decl = self._declaration(pipeline)
        stage = next((s for s in decl["stages"] if s["name"] == stage_name), None)
        if stage is None:
            raise StageNotFoundException(f"Stage {stage_name} not found in pipeline {name}.")
        if not any(a["name"] == action_name for a in stage["actions"]):
            raise ActionNotFoundException(f"Action {action_name} not found in stage {stage_name}.")
        action = self.session.scalar(
            select(ActionExecution).where(
                ActionExecution.pipeline_id == pipeline.id,
                ActionExecution.stage_name == stage_name,
                ActionExecution.action_name == action_name,
                ActionExecution.approval_token == token,
            )
        )
        if action is None:
            raise InvalidApprovalTokenException(
                f"The approval token {token} is not valid for {stage_name}.{action_name}."
            )
        if action.error_code in ("TimedOut", "Abandoned"):
            # AWS: an expired approval's token is no longer valid.
            raise InvalidApprovalTokenException(
                f"The approval for {stage_name}.{action_name} has expired ({action.error_code})."
            )
        if action.status != ActionStatus.IN_PROGRESS:
            raise ApprovalAlreadyCompletedException(
                f"The approval for {stage_name}.{action_name} was already {action.status}."
            )
        action.summary, action.updated_by = summary, principal.arn
        if status == "Approved":
            self.o.finish_action(action, ActionStatus.SUCCEEDED)
        else:
            action.error_code, action.error_message = "Rejected", f"Rejected: {summary}"
            self.o.finish_action(action, ActionStatus.FAILED)
        return action.updated_at


def _variables(
    decl: dict[str, Any], given: Sequence[dict[str, str]], *, required: bool = True
) -> list[dict[str, str]]:
    """Pipeline variables for one execution: given values over declared defaults. A started
    run must give a value to each variable without a default; the run CreatePipeline starts
    cannot, so those are empty there rather than failing the creation."""
    declared = {v["name"]: v for v in decl.get("variables") or []}
    values = {name: v.get("defaultValue") for name, v in declared.items()}
    for item in given:
        if item["name"] not in declared:
            raise ValidationException(
                f"Variable {item['name']} is not declared by pipeline {decl['name']}."
            )
        values[item["name"]] = item["value"]
    missing = sorted(name for name, value in values.items() if value is None)
    if missing and not required:
        values.update(dict.fromkeys(missing, ""))
    elif missing:
        raise ValidationException(
            f"Variables without a default need a value: {', '.join(missing)}."
        )
    return [{"name": name, "value": str(value)} for name, value in values.items()]


def _source_overrides(
    decl: dict[str, Any], given: Sequence[dict[str, str]]
) -> list[dict[str, str]]:
    sources = {a["name"]: a for a in decl["stages"][0]["actions"]}
    for item in given:
        if item["actionName"] not in sources:
            raise ValidationException(
                f"sourceRevisions names {item['actionName']}, which is not a source action."
            )
        if sources[item["actionName"]]["actionTypeId"]["provider"] == "CodeStarSourceConnection":
            _git_revision(item)
    return [dict(item) for item in given]


def _git_revision(item: dict[str, str]) -> None:
    """A git source's pin reaches git: only a full commit id (and a valid branch) passes."""
    name = item["actionName"]
    if item.get("revisionType") != "COMMIT_ID":
        raise ValidationException(
            f"Source action {name} is a CodeStarSourceConnection source: its revisionType "
            f"must be COMMIT_ID, not {item.get('revisionType')}."
        )
    problem = commit_id_problem(name, item.get("revisionValue")) or (
        branch_problem(item["branchName"]) if "branchName" in item else None
    )
    if problem:
        raise ValidationException(problem)
