"""/api/v1/pipelines: pipeline definitions over REST, same services and rules as the AWS API."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from stageline.aws.shapes import check
from stageline.aws.spec import operation_model
from stageline.domain.errors import ServiceError, ValidationException
from stageline.identity import Principal
from stageline.rest.auth import authenticate
from stageline.runtime import Runtime
from stageline.services.pipelines import PipelineService

router = APIRouter(prefix="/api/v1/pipelines", tags=["pipelines"])
Caller = Annotated[Principal, Depends(authenticate)]


class Tag(BaseModel):
    key: str
    value: str


class PipelineBody(BaseModel):
    """A pipeline declaration in AWS's JSON (the `pipeline` of `aws codepipeline get-pipeline`)."""

    pipeline: dict[str, Any] = Field(description="AWS PipelineDeclaration")
    tags: list[Tag] = Field(default_factory=list)


class PipelineOut(BaseModel):
    pipeline: dict[str, Any]
    metadata: dict[str, Any] | None = None
    tags: list[Tag] | None = None


class PipelineList(BaseModel):
    pipelines: list[dict[str, Any]]
    nextToken: str | None = None


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _checked(operation: str, params: dict[str, Any]) -> dict[str, Any]:
    """Validate against the same botocore input shape as the AWS endpoint."""
    model = operation_model("codepipeline", operation)
    assert model is not None and model.input_shape is not None
    problems = check(model.input_shape, params)
    if problems.types:
        raise ValidationException("; ".join(problems.types))
    if problems.constraints:
        raise ValidationException(problems.constraint_message())
    return params


@router.get("", response_model=PipelineList)
async def list_pipelines(
    request: Request,
    _caller: Caller,
    max_results: Annotated[int | None, Query(alias="maxResults", ge=1, le=1000)] = None,
    next_token: Annotated[str | None, Query(alias="nextToken")] = None,
) -> dict[str, Any]:
    rt = _runtime(request)

    def run() -> dict[str, Any]:
        with rt.db.unit_of_work(write=False) as uow:
            rows, token = PipelineService(uow.session, rt.arns).list(max_results, next_token)
        return {"pipelines": rows, "nextToken": token}

    return await run_in_threadpool(run)


@router.get("/{name}", response_model=PipelineOut)
async def get_pipeline(
    request: Request, name: str, _caller: Caller, version: int | None = None
) -> dict[str, Any]:
    rt = _runtime(request)

    def run() -> dict[str, Any]:
        with rt.db.unit_of_work(write=False) as uow:
            pipeline, metadata = PipelineService(uow.session, rt.arns).get(name, version)
        return {"pipeline": pipeline, "metadata": metadata}

    return await run_in_threadpool(run)


@router.post("", response_model=PipelineOut, status_code=201)
async def create_pipeline(request: Request, body: PipelineBody, _caller: Caller) -> dict[str, Any]:
    rt = _runtime(request)
    params = _checked("CreatePipeline", body.model_dump(exclude_none=True))

    def run() -> dict[str, Any]:
        with rt.db.unit_of_work() as uow:
            service = PipelineService(uow.session, rt.arns)
            pipeline = service.create(params["pipeline"], params.get("tags") or [])
        return {"pipeline": pipeline, "tags": params.get("tags") or None}

    return await run_in_threadpool(run)


@router.put("/{name}", response_model=PipelineOut)
async def update_pipeline(
    request: Request, name: str, body: PipelineBody, _caller: Caller
) -> dict[str, Any]:
    rt = _runtime(request)
    if body.pipeline.get("name", name) != name:
        raise ServiceError("The pipeline name in the body must match the URL.")
    params = _checked("UpdatePipeline", {"pipeline": {**body.pipeline, "name": name}})

    def run() -> dict[str, Any]:
        with rt.db.unit_of_work() as uow:
            pipeline = PipelineService(uow.session, rt.arns).update(params["pipeline"])
        return {"pipeline": pipeline}

    return await run_in_threadpool(run)


@router.delete("/{name}", status_code=204)
async def delete_pipeline(request: Request, name: str, _caller: Caller) -> Response:
    rt = _runtime(request)

    def run() -> None:
        with rt.db.unit_of_work() as uow:
            PipelineService(uow.session, rt.arns).delete(name)

    await run_in_threadpool(run)
    return Response(status_code=204)
