"""GetPipelineState: per stage, its latest execution, who waits at its inbound transition,
the transition's state, and each action's latest attempt."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from stageline.persistence.models import (
    ActionExecution,
    PipelineExecution,
    StageExecution,
    StageTransition,
)
from stageline.services.execution_views import ExecutionViews, _epoch, _error
from stageline.services.orchestrator import ACTIVE


def pipeline_state(views: ExecutionViews, name: str) -> dict[str, Any]:
    pipeline = views.pipeline(name)
    decl = views.declaration(pipeline.id, pipeline.version)
    session = views.session
    transitions = {
        t.stage_name: t
        for t in session.scalars(
            select(StageTransition).where(
                StageTransition.pipeline_id == pipeline.id, StageTransition.direction == "Inbound"
            )
        )
    }
    waiting = list(
        session.scalars(
            select(PipelineExecution)
            .where(
                PipelineExecution.pipeline_id == pipeline.id,
                PipelineExecution.status.in_(ACTIVE),
                PipelineExecution.waiting.is_(True),
            )
            .order_by(PipelineExecution.pk)
        )
    )
    states = []
    for stage in decl["stages"]:
        inbound = [
            {"pipelineExecutionId": e.execution_id, "status": e.status, "type": "STANDARD"}
            for e in waiting
            if _stage_name_at(views, e) == stage["name"]
        ]
        states.append(
            {
                "stageName": stage["name"],
                "inboundExecution": inbound[-1] if inbound else None,
                "inboundExecutions": inbound or None,
                "inboundTransitionState": _transition(transitions.get(stage["name"])),
                "actionStates": [
                    _action_state(views, pipeline.id, stage["name"], a) for a in stage["actions"]
                ],
                "latestExecution": _latest_stage(views, pipeline.id, stage["name"]),
            }
        )
    return {
        "pipelineName": pipeline.name,
        "pipelineVersion": pipeline.version,
        "stageStates": states,
        "created": pipeline.created_at,
        "updated": pipeline.updated_at,
    }


def _stage_name_at(views: ExecutionViews, execution: PipelineExecution) -> str | None:
    stages = views.declaration(execution.pipeline_id, execution.pipeline_version)["stages"]
    index = execution.stage_index
    return str(stages[index]["name"]) if index < len(stages) else None


def _transition(row: StageTransition | None) -> dict[str, Any]:
    if row is None:
        return {"enabled": True}
    return {
        "enabled": row.enabled,
        "lastChangedBy": row.changed_by,
        "lastChangedAt": row.changed_at,
        "disabledReason": row.reason,
    }


def _latest_stage(views: ExecutionViews, pipeline_id: int, stage: str) -> dict[str, Any] | None:
    row = views.session.execute(
        select(StageExecution.status, PipelineExecution.execution_id)
        .join(PipelineExecution, PipelineExecution.pk == StageExecution.execution_pk)
        .where(StageExecution.pipeline_id == pipeline_id, StageExecution.stage_name == stage)
        .order_by(StageExecution.updated_at.desc(), StageExecution.pk.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    return {"pipelineExecutionId": row.execution_id, "status": row.status, "type": "STANDARD"}


def _action_state(
    views: ExecutionViews, pipeline_id: int, stage: str, action: dict[str, Any]
) -> dict[str, Any]:
    row = views.session.scalar(
        select(ActionExecution)
        .where(
            ActionExecution.pipeline_id == pipeline_id,
            ActionExecution.stage_name == stage,
            ActionExecution.action_name == action["name"],
        )
        .order_by(ActionExecution.pk.desc())
        .limit(1)
    )
    state: dict[str, Any] = {"actionName": action["name"]}
    if row is None:
        return state
    state["latestExecution"] = {
        "actionExecutionId": row.action_execution_id,
        "status": row.status,
        "summary": row.summary,
        "lastStatusChange": row.updated_at,
        "token": row.approval_token if row.status == "InProgress" else None,
        "lastUpdatedBy": row.updated_by,
        "externalExecutionId": row.external_execution_id,
        "externalExecutionUrl": row.external_execution_url,
        "errorDetails": _error(row),
    }
    if row.revision:
        state["currentRevision"] = {
            "revisionId": row.revision["revisionId"],
            "revisionChangeId": row.revision.get("revisionChangeId") or row.revision["revisionId"],
            "created": _epoch(row.revision.get("created")) or row.updated_at,
        }
    return state
