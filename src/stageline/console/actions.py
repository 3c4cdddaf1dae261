"""What people do from the console (POST, CSRF-checked): start with variables, stop, retry,
approve or reject, enable or disable a transition, update the pipeline JSON.

Every action is checked against the same botocore input shape as the AWS endpoint and runs
through the same services in one unit of work; a refusal shows the service's own message.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from stageline.console.auth import posted, posted_lists, runtime_of
from stageline.console.web import page, redirect
from stageline.domain.errors import ServiceError
from stageline.rest.common import checked
from stageline.services.executions import ExecutionService
from stageline.services.orchestrator import Orchestrator
from stageline.services.pipelines import PipelineService

router = APIRouter(prefix="/console/pipelines/{name}", include_in_schema=False)
T = TypeVar("T")


async def _write(request: Request, work: Callable[[ExecutionService], T]) -> T:
    rt = runtime_of(request)

    def run() -> T:
        with rt.db.unit_of_work() as uow:
            return work(ExecutionService(Orchestrator(uow, rt.dispatcher, rt.executions)))

    return await run_in_threadpool(run)


def _back(name: str, form: dict[str, str]) -> str:
    target = form.get("back", "")
    prefix = f"/console/pipelines/{name}"
    # Only back to a page of this pipeline: never an open redirect.
    return target if target.startswith(prefix) and "//" not in target else prefix


async def _act(
    request: Request,
    name: str,
    form: dict[str, str],
    check: tuple[str, dict[str, Any]],
    work: Callable[[ExecutionService], Any],
    done: str,
) -> Response:
    """Check the input as the AWS endpoint would (`check`: operation and its parameters), run
    `work` in one unit of work, and go back with the outcome or the service's refusal."""
    try:
        checked(*check)
        await _write(request, work)
    except ServiceError as error:
        return redirect(request, _back(name, form), error=f"{error.code}: {error.message}")
    return redirect(request, _back(name, form), notice=done)


@router.post("/executions/{execution_id}/stop")
async def stop(request: Request, name: str, execution_id: str) -> Response:
    _who, form = await posted(request)
    abandon = form.get("mode") == "abandon"
    reason = form.get("reason") or None
    params: dict[str, Any] = {
        "pipelineName": name,
        "pipelineExecutionId": execution_id,
        "abandon": abandon,
    }
    if reason:
        params["reason"] = reason
    how = "Abandoning" if abandon else "Stopping (in-progress actions finish)"
    return await _act(
        request,
        name,
        form,
        ("StopPipelineExecution", params),
        lambda s: s.stop(name, execution_id, abandon=abandon, reason=reason),
        f"{how} execution {execution_id}.",
    )


@router.post("/executions/{execution_id}/retry")
async def retry(request: Request, name: str, execution_id: str) -> Response:
    _who, form = await posted(request)
    stage, mode = form.get("stage", ""), form.get("mode", "FAILED_ACTIONS")
    params = {
        "pipelineName": name,
        "stageName": stage,
        "pipelineExecutionId": execution_id,
        "retryMode": mode,
    }
    what = "all actions" if mode == "ALL_ACTIONS" else "failed actions"
    return await _act(
        request,
        name,
        form,
        ("RetryStageExecution", params),
        lambda s: s.retry(name, stage, execution_id, mode),
        f"Retrying the {what} of stage {stage}.",
    )


@router.post("/stages/{stage}/approval")
async def approval(request: Request, name: str, stage: str) -> Response:
    who, form = await posted(request)
    action, token = form.get("action", ""), form.get("token", "")
    decision, summary = form.get("decision", ""), form.get("summary", "")
    params = {
        "pipelineName": name,
        "stageName": stage,
        "actionName": action,
        "result": {"summary": summary, "status": decision},
        "token": token,
    }
    return await _act(
        request,
        name,
        form,
        ("PutApprovalResult", params),
        lambda s: s.put_approval(name, stage, action, token, decision, summary, who.principal),
        f"{action} {decision.lower()}.",
    )


@router.post("/stages/{stage}/transition")
async def transition(request: Request, name: str, stage: str) -> Response:
    who, form = await posted(request)
    direction = form.get("direction", "Inbound")
    enable = form.get("change") == "enable"
    reason = form.get("reason", "")
    params = {"pipelineName": name, "stageName": stage, "transitionType": direction}
    check = (
        ("EnableStageTransition", params)
        if enable
        else ("DisableStageTransition", {**params, "reason": reason})
    )
    return await _act(
        request,
        name,
        form,
        check,
        lambda s: s.set_transition(
            name,
            stage,
            direction,
            enabled=enable,
            reason=reason or None,
            principal=who.principal,
        ),
        f"Transition into {stage} {'enabled' if enable else 'disabled'}.",
    )


@router.post("/start")
async def start(request: Request, name: str) -> Response:
    who, form = await posted_lists(request)
    names, values = form.get("var_name", []), form.get("var_value", [])
    variables = [
        {"name": n.strip(), "value": v} for n, v in zip(names, values, strict=False) if n.strip()
    ]
    params: dict[str, Any] = {"name": name}
    if variables:
        params["variables"] = variables
    try:
        checked("StartPipelineExecution", params)
        execution_id = await _write(
            request,
            lambda s: s.start(
                name,
                trigger="StartPipelineExecution",
                trigger_detail=who.principal.arn,
                variables=variables,
            ),
        )
    except ServiceError as error:
        context = {
            "name": name,
            "variables": [{"name": v["name"], "defaultValue": v["value"]} for v in variables],
            "error": f"{error.code}: {error.message}",
        }
        return page(request, "start.html", context, who.session, status=400)
    return redirect(
        request,
        f"/console/pipelines/{name}/executions/{execution_id}",
        notice=f"Started execution {execution_id}.",
    )


@router.post("/edit")
async def update(request: Request, name: str) -> Response:
    """UpdatePipeline from the editor; any refusal is shown next to the editor, text kept."""
    who, form = await posted(request)
    text = form.get("pipeline_json", "")
    rt = runtime_of(request)

    def run(declaration: dict[str, Any]) -> dict[str, Any]:
        with rt.db.unit_of_work() as uow:
            return PipelineService(uow.session, rt.arns).update(declaration)

    try:
        declaration = _parse(name, text)
        params = checked("UpdatePipeline", {"pipeline": declaration})
        saved = await run_in_threadpool(run, params["pipeline"])
    except ServiceError as error:
        context = {"name": name, "text": text, "error": f"{error.code}: {error.message}"}
        return page(request, "edit.html", context, who.session, status=400)
    return redirect(
        request, f"/console/pipelines/{name}", notice=f"Saved version {saved['version']}."
    )


class _BadJson(ServiceError):
    code = "ValidationException"


def _parse(name: str, text: str) -> dict[str, Any]:
    try:
        body = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _BadJson(
            f"Not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}."
        ) from None
    if isinstance(body, dict) and isinstance(body.get("pipeline"), dict):
        body = body["pipeline"]  # get-pipeline's output, as the editor shows it
    if not isinstance(body, dict):
        raise _BadJson('Expected a JSON object: {"pipeline": {...}}.')
    if body.get("name", name) != name:
        raise _BadJson(
            f"The pipeline's name is {name}; renaming is not an update (create a new pipeline)."
        )
    return {**body, "name": name}
