"""/api/v1/pipelines/{name}/...: executions, state, and the things people do to runs —
start, stop, retry, approve, enable and disable transitions. Same services as the AWS API."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from stageline.rest.common import Caller, checked, runtime_of
from stageline.runtime import Runtime
from stageline.services.execution_views import ExecutionViews
from stageline.services.executions import ExecutionService
from stageline.services.orchestrator import Orchestrator
from stageline.services.pipeline_state import pipeline_state

router = APIRouter(prefix="/api/v1/pipelines/{name}", tags=["executions"])
T = TypeVar("T")


class Variable(BaseModel):
    name: str
    value: str


class SourceRevision(BaseModel):
    actionName: str
    revisionType: Literal["COMMIT_ID", "IMAGE_DIGEST", "S3_OBJECT_VERSION_ID", "S3_OBJECT_KEY"]
    revisionValue: str


class StartBody(BaseModel):
    variables: list[Variable] | None = None  # None, not []: AWS wants at least one
    clientRequestToken: str | None = None
    sourceRevisions: list[SourceRevision] | None = None


class StopBody(BaseModel):
    abandon: bool = False
    reason: str | None = None


class RetryBody(BaseModel):
    stageName: str
    retryMode: Literal["FAILED_ACTIONS", "ALL_ACTIONS"] = "FAILED_ACTIONS"


class ApprovalBody(BaseModel):
    actionName: str
    token: str
    status: Literal["Approved", "Rejected"]
    summary: str


class TransitionBody(BaseModel):
    reason: str | None = None


async def _write(request: Request, work: Callable[[ExecutionService], T]) -> T:
    rt = runtime_of(request)

    def run() -> T:
        with rt.db.unit_of_work() as uow:
            return work(ExecutionService(Orchestrator(uow, rt.dispatcher, rt.executions)))

    return await run_in_threadpool(run)


async def _read(rt: Runtime, work: Callable[[ExecutionViews], T]) -> T:
    def run() -> T:
        with rt.db.unit_of_work(write=False) as uow:
            return work(ExecutionViews(uow.session))

    return await run_in_threadpool(run)


@router.get("/executions")
async def list_executions(
    request: Request,
    name: str,
    _caller: Caller,
    max_results: Annotated[int | None, Query(alias="maxResults", ge=1, le=100)] = None,
    next_token: Annotated[str | None, Query(alias="nextToken")] = None,
    succeeded_in_stage: Annotated[str | None, Query(alias="succeededInStage")] = None,
) -> dict[str, Any]:
    rows, token = await _read(
        runtime_of(request),
        lambda v: v.list_executions(name, max_results, next_token, succeeded_in_stage),
    )
    return {"pipelineExecutionSummaries": rows, "nextToken": token}


@router.post("/executions", status_code=201)
async def start_execution(
    request: Request, name: str, body: StartBody, caller: Caller
) -> dict[str, Any]:
    params = checked("StartPipelineExecution", {"name": name, **body.model_dump(exclude_none=True)})
    execution_id = await _write(
        request,
        lambda s: s.start(
            name,
            trigger="StartPipelineExecution",
            trigger_detail=caller.arn,
            variables=params.get("variables") or [],
            client_request_token=params.get("clientRequestToken"),
            source_revisions=params.get("sourceRevisions") or [],
        ),
    )
    return {"pipelineExecutionId": execution_id}


@router.get("/executions/{execution_id}")
async def get_execution(
    request: Request, name: str, execution_id: str, _caller: Caller
) -> dict[str, Any]:
    view = await _read(runtime_of(request), lambda v: v.get_execution(name, execution_id))
    return {"pipelineExecution": view}


@router.post("/executions/{execution_id}/stop")
async def stop_execution(
    request: Request, name: str, execution_id: str, body: StopBody, _caller: Caller
) -> dict[str, Any]:
    checked(
        "StopPipelineExecution",
        {
            "pipelineName": name,
            "pipelineExecutionId": execution_id,
            **body.model_dump(exclude_none=True),
        },
    )
    stopped = await _write(
        request, lambda s: s.stop(name, execution_id, abandon=body.abandon, reason=body.reason)
    )
    return {"pipelineExecutionId": stopped}


@router.post("/executions/{execution_id}/retry")
async def retry_stage(
    request: Request, name: str, execution_id: str, body: RetryBody, _caller: Caller
) -> dict[str, Any]:
    retried = await _write(
        request, lambda s: s.retry(name, body.stageName, execution_id, body.retryMode)
    )
    return {"pipelineExecutionId": retried}


@router.get("/state")
async def get_state(request: Request, name: str, _caller: Caller) -> dict[str, Any]:
    return await _read(runtime_of(request), lambda v: pipeline_state(v, name))


@router.get("/action-executions")
async def list_action_executions(
    request: Request,
    name: str,
    _caller: Caller,
    execution_id: Annotated[str | None, Query(alias="pipelineExecutionId")] = None,
    max_results: Annotated[int | None, Query(alias="maxResults", ge=1, le=100)] = None,
    next_token: Annotated[str | None, Query(alias="nextToken")] = None,
) -> dict[str, Any]:
    rows, token = await _read(
        runtime_of(request),
        lambda v: v.list_action_executions(name, execution_id, max_results, next_token),
    )
    return {"actionExecutionDetails": rows, "nextToken": token}


@router.post("/stages/{stage}/approval")
async def put_approval(
    request: Request, name: str, stage: str, body: ApprovalBody, caller: Caller
) -> dict[str, Any]:
    approved_at = await _write(
        request,
        lambda s: s.put_approval(
            name, stage, body.actionName, body.token, body.status, body.summary, caller
        ),
    )
    return {"approvedAt": approved_at}


@router.post("/stages/{stage}/transitions/{direction}/{change}", status_code=204)
async def set_transition(
    request: Request,
    name: str,
    stage: str,
    direction: Literal["Inbound", "Outbound"],
    change: Literal["enable", "disable"],
    body: TransitionBody,
    caller: Caller,
) -> Response:
    if change == "disable":
        checked(
            "DisableStageTransition",
            {
                "pipelineName": name,
                "stageName": stage,
                "transitionType": direction,
                "reason": body.reason or "",
            },
        )
    await _write(
        request,
        lambda s: s.set_transition(
            name,
            stage,
            direction,
            enabled=change == "enable",
            reason=body.reason,
            principal=caller,
        ),
    )
    return Response(status_code=204)
