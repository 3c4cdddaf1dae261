"""Read models of executions in AWS's shapes: GetPipelineExecution, ListPipelineExecutions,
GetPipelineState and ListActionExecutions. Reads only; no locks."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from stageline.domain.action_types import ActionTypeId
from stageline.domain.custom_action_types import mask_configuration
from stageline.domain.errors import PipelineExecutionNotFoundException, PipelineNotFoundException
from stageline.persistence.models import (
    ActionExecution,
    Pipeline,
    PipelineExecution,
    StageExecution,
)
from stageline.services.custom_action_types import ActionTypeCatalog
from stageline.services.pagination import decode_token, encode_token
from stageline.services.pipelines import Declarations


def find_execution(session: Session, pipeline: Pipeline, execution_id: str) -> PipelineExecution:
    row = session.scalar(
        select(PipelineExecution).where(
            PipelineExecution.pipeline_id == pipeline.id,
            PipelineExecution.execution_id == execution_id,
        )
    )
    if row is None:
        raise PipelineExecutionNotFoundException(
            f"Execution {execution_id} of pipeline {pipeline.name} not found."
        )
    return row


def _epoch(value: Any) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if isinstance(value, int | float) else None


class ExecutionViews:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.declarations = Declarations(session)

    def pipeline(self, name: str) -> Pipeline:
        row = self.session.scalar(select(Pipeline).where(Pipeline.name == name))
        if row is None:
            raise PipelineNotFoundException(f"Pipeline {name} not found.")
        return row

    def declaration(self, pipeline_id: int, version: int) -> dict[str, Any]:
        return self.declarations.get(pipeline_id, version)

    def execution(self, pipeline: Pipeline, execution_id: str) -> PipelineExecution:
        return find_execution(self.session, pipeline, execution_id)

    # -- GetPipelineExecution ------------------------------------------------------------
    def get_execution(self, name: str, execution_id: str) -> dict[str, Any]:
        pipeline = self.pipeline(name)
        execution = self.execution(pipeline, execution_id)
        return {
            "pipelineName": pipeline.name,
            "pipelineVersion": execution.pipeline_version,
            "pipelineExecutionId": execution.execution_id,
            "status": execution.status,
            "statusSummary": execution.status_summary,
            "artifactRevisions": self._artifact_revisions(execution),
            "variables": [
                {"name": v["name"], "resolvedValue": v["value"]} for v in execution.variables
            ],
            "trigger": _trigger(execution),
            "executionMode": execution.execution_mode,
            "executionType": "STANDARD",
        }

    def _source_actions(self, execution: PipelineExecution) -> list[ActionExecution]:
        decl = self.declaration(execution.pipeline_id, execution.pipeline_version)
        first = decl["stages"][0]["name"]
        rows = self.session.scalars(
            select(ActionExecution)
            .where(
                ActionExecution.execution_pk == execution.pk, ActionExecution.stage_name == first
            )
            .order_by(ActionExecution.pk)
        )
        latest = {row.action_name: row for row in rows}
        return [row for row in latest.values() if row.revision]

    def _artifact_revisions(self, execution: PipelineExecution) -> list[dict[str, Any]]:
        result = []
        for row in self._source_actions(execution):
            rev = row.revision or {}
            for artifact in row.output_artifacts:
                result.append(
                    {
                        "name": artifact["name"],
                        "revisionId": rev.get("revisionId"),
                        "revisionChangeIdentifier": rev.get("revisionChangeId"),
                        "revisionSummary": rev.get("summary"),
                        "created": _epoch(rev.get("created")),
                        "revisionUrl": rev.get("url"),
                    }
                )
        return result

    # -- ListPipelineExecutions ----------------------------------------------------------
    def list_executions(
        self,
        name: str,
        max_results: int | None,
        next_token: str | None,
        succeeded_in_stage: str | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        pipeline = self.pipeline(name)
        position = decode_token("executions", next_token)
        limit = max_results or 100
        query = select(PipelineExecution).where(PipelineExecution.pipeline_id == pipeline.id)
        if position is not None:
            query = query.where(PipelineExecution.pk < int(position.get("before", 0)))
        if succeeded_in_stage:
            query = query.where(
                PipelineExecution.pk.in_(
                    select(StageExecution.execution_pk).where(
                        StageExecution.pipeline_id == pipeline.id,
                        StageExecution.stage_name == succeeded_in_stage,
                        StageExecution.status == "Succeeded",
                    )
                )
            )
        rows = list(
            self.session.scalars(query.order_by(PipelineExecution.pk.desc()).limit(limit + 1))
        )
        token = (
            encode_token("executions", {"before": rows[limit - 1].pk})
            if len(rows) > limit
            else None
        )
        return [self._summary(r) for r in rows[:limit]], token

    def _summary(self, execution: PipelineExecution) -> dict[str, Any]:
        return {
            "pipelineExecutionId": execution.execution_id,
            "status": execution.status,
            "statusSummary": execution.status_summary,
            "startTime": execution.created_at,
            "lastUpdateTime": execution.updated_at,
            "sourceRevisions": [
                {
                    "actionName": row.action_name,
                    "revisionId": (row.revision or {}).get("revisionId"),
                    "revisionSummary": (row.revision or {}).get("summary"),
                    "revisionUrl": (row.revision or {}).get("url"),
                }
                for row in self._source_actions(execution)
            ],
            "trigger": _trigger(execution),
            "stopTrigger": {"reason": execution.stop_reason} if execution.stop_mode else None,
            "executionMode": execution.execution_mode,
            "executionType": "STANDARD",
        }

    # -- ListActionExecutions ------------------------------------------------------------
    def list_action_executions(
        self, name: str, execution_id: str | None, max_results: int | None, next_token: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        pipeline = self.pipeline(name)
        position = decode_token("action-executions", next_token)
        limit = max_results or 100
        query = (
            select(ActionExecution, PipelineExecution)
            .join(PipelineExecution, PipelineExecution.pk == ActionExecution.execution_pk)
            .where(ActionExecution.pipeline_id == pipeline.id)
        )
        if execution_id:
            query = query.where(
                ActionExecution.execution_pk == self.execution(pipeline, execution_id).pk
            )
        if position is not None:
            query = query.where(ActionExecution.pk < int(position.get("before", 0)))
        rows = list(
            self.session.execute(query.order_by(ActionExecution.pk.desc()).limit(limit + 1))
        )
        token = (
            encode_token("action-executions", {"before": rows[limit - 1][0].pk})
            if len(rows) > limit
            else None
        )
        catalog = ActionTypeCatalog(self.session)
        return [action_detail(a, e, catalog) for a, e in rows[:limit]], token


def _trigger(execution: PipelineExecution) -> dict[str, Any]:
    return {"triggerType": execution.trigger_type, "triggerDetail": execution.trigger_detail}


def action_detail(
    action: ActionExecution, execution: PipelineExecution, catalog: ActionTypeCatalog
) -> dict[str, Any]:
    data = action.input
    # Secret properties (of custom and built-in types) are never shown, as on AWS.
    spec = catalog.known(ActionTypeId(**data["actionTypeId"])) if data.get("actionTypeId") else None
    return {
        "pipelineExecutionId": execution.execution_id,
        "actionExecutionId": action.action_execution_id,
        "pipelineVersion": execution.pipeline_version,
        "stageName": action.stage_name,
        "actionName": action.action_name,
        "startTime": action.started_at,
        "lastUpdateTime": action.updated_at,
        "updatedBy": action.updated_by,
        "status": action.status,
        "input": {
            "actionTypeId": data.get("actionTypeId"),
            "configuration": mask_configuration(data.get("configuration") or {}, spec) or None,
            "resolvedConfiguration": mask_configuration(
                data.get("resolvedConfiguration") or {}, spec
            )
            or None,
            "roleArn": data.get("roleArn"),
            "region": data.get("region"),
            "inputArtifacts": [a for a in data.get("inputArtifacts", []) if a.get("s3location")],
            "namespace": data.get("namespace"),
        },
        "output": {
            "outputArtifacts": [
                {"name": a["name"], "s3location": a["s3location"]} for a in action.output_artifacts
            ]
            if action.status == "Succeeded"
            else [],
            "executionResult": {
                "externalExecutionId": action.external_execution_id,
                "externalExecutionSummary": action.summary,
                "externalExecutionUrl": action.external_execution_url,
                "errorDetails": _error(action),
            },
            "outputVariables": action.output_variables or None,
        },
    }


def _error(action: ActionExecution) -> dict[str, str] | None:
    if not action.error_code:
        return None
    return {"code": action.error_code, "message": action.error_message or ""}


def latest_attempt(
    views: ExecutionViews, name: str, execution_id: str, action_name: str
) -> tuple[int, str]:
    """The latest attempt of an action in an execution: (its row id, its status)."""
    from stageline.domain.errors import ActionExecutionNotFoundException

    pipeline = views.pipeline(name)
    execution = views.execution(pipeline, execution_id)
    row = views.session.execute(
        select(ActionExecution.pk, ActionExecution.status)
        .where(
            ActionExecution.execution_pk == execution.pk,
            ActionExecution.action_name == action_name,
        )
        .order_by(ActionExecution.pk.desc())
        .limit(1)
    ).first()
    if row is None:
        raise ActionExecutionNotFoundException(
            f"Action {action_name} has not run in execution {execution_id}."
        )
    return row.pk, row.status
