"""CodePipeline execution operations: start, watch and steer runs."""

from __future__ import annotations

from typing import Any

from stageline.aws.router import AwsCall, Handler
from stageline.persistence.db import UnitOfWork
from stageline.runtime import Runtime
from stageline.services.execution_views import ExecutionViews
from stageline.services.executions import ExecutionService
from stageline.services.orchestrator import Orchestrator
from stageline.services.pipeline_state import pipeline_state

Output = dict[str, Any] | None


def executions(rt: Runtime, uow: UnitOfWork) -> ExecutionService:
    return ExecutionService(Orchestrator(uow, rt.dispatcher, rt.executions))


def start_pipeline_execution(rt: Runtime, call: AwsCall) -> Output:
    p = call.params
    with rt.db.unit_of_work() as uow:
        execution_id = executions(rt, uow).start(
            p["name"],
            trigger="StartPipelineExecution",
            trigger_detail=call.principal.arn,
            variables=p.get("variables") or [],
            client_request_token=p.get("clientRequestToken"),
            source_revisions=p.get("sourceRevisions") or [],
        )
    return {"pipelineExecutionId": execution_id}


def get_pipeline_execution(rt: Runtime, call: AwsCall) -> Output:
    p = call.params
    with rt.db.unit_of_work(write=False) as uow:
        view = ExecutionViews(uow.session).get_execution(
            p["pipelineName"], p["pipelineExecutionId"]
        )
    return {"pipelineExecution": view}


def list_pipeline_executions(rt: Runtime, call: AwsCall) -> Output:
    p = call.params
    stage = ((p.get("filter") or {}).get("succeededInStage") or {}).get("stageName")
    with rt.db.unit_of_work(write=False) as uow:
        rows, token = ExecutionViews(uow.session).list_executions(
            p["pipelineName"], p.get("maxResults"), p.get("nextToken"), stage
        )
    return {"pipelineExecutionSummaries": rows, "nextToken": token}


def get_pipeline_state(rt: Runtime, call: AwsCall) -> Output:
    with rt.db.unit_of_work(write=False) as uow:
        return pipeline_state(ExecutionViews(uow.session), call.params["name"])


def list_action_executions(rt: Runtime, call: AwsCall) -> Output:
    p = call.params
    execution_id = (p.get("filter") or {}).get("pipelineExecutionId")
    with rt.db.unit_of_work(write=False) as uow:
        rows, token = ExecutionViews(uow.session).list_action_executions(
            p["pipelineName"], execution_id, p.get("maxResults"), p.get("nextToken")
        )
    return {"actionExecutionDetails": rows, "nextToken": token}


def stop_pipeline_execution(rt: Runtime, call: AwsCall) -> Output:
    p = call.params
    with rt.db.unit_of_work() as uow:
        execution_id = executions(rt, uow).stop(
            p["pipelineName"],
            p["pipelineExecutionId"],
            abandon=bool(p.get("abandon")),
            reason=p.get("reason"),
        )
    return {"pipelineExecutionId": execution_id}


def retry_stage_execution(rt: Runtime, call: AwsCall) -> Output:
    p = call.params
    with rt.db.unit_of_work() as uow:
        execution_id = executions(rt, uow).retry(
            p["pipelineName"], p["stageName"], p["pipelineExecutionId"], p["retryMode"]
        )
    return {"pipelineExecutionId": execution_id}


def _transition(rt: Runtime, call: AwsCall, enabled: bool) -> Output:
    p = call.params
    with rt.db.unit_of_work() as uow:
        executions(rt, uow).set_transition(
            p["pipelineName"],
            p["stageName"],
            p["transitionType"],
            enabled=enabled,
            reason=p.get("reason"),
            principal=call.principal,
        )
    return None


def enable_stage_transition(rt: Runtime, call: AwsCall) -> Output:
    return _transition(rt, call, True)


def disable_stage_transition(rt: Runtime, call: AwsCall) -> Output:
    return _transition(rt, call, False)


def put_approval_result(rt: Runtime, call: AwsCall) -> Output:
    p = call.params
    with rt.db.unit_of_work() as uow:
        approved_at = executions(rt, uow).put_approval(
            p["pipelineName"],
            p["stageName"],
            p["actionName"],
            p["token"],
            p["result"]["status"],
            p["result"]["summary"],
            call.principal,
        )
    return {"approvedAt": approved_at}


HANDLERS: dict[str, Handler] = {
    "StartPipelineExecution": start_pipeline_execution,
    "GetPipelineExecution": get_pipeline_execution,
    "ListPipelineExecutions": list_pipeline_executions,
    "GetPipelineState": get_pipeline_state,
    "ListActionExecutions": list_action_executions,
    "StopPipelineExecution": stop_pipeline_execution,
    "RetryStageExecution": retry_stage_execution,
    "EnableStageTransition": enable_stage_transition,
    "DisableStageTransition": disable_stage_transition,
    "PutApprovalResult": put_approval_result,
}
