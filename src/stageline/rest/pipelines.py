"""/api/v1/pipelines: pipeline definitions over REST, same services and rules as the AWS API."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from stageline.domain.errors import ServiceError
from stageline.rest.common import Caller, checked, runtime_of
from stageline.services.creation import create_and_start
from stageline.services.pipelines import PipelineService

router = APIRouter(prefix="/api/v1/pipelines", tags=["pipelines"])


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


@router.get("", response_model=PipelineList)
async def list_pipelines(
    request: Request,
    _caller: Caller,
    max_results: Annotated[int | None, Query(alias="maxResults", ge=1, le=1000)] = None,
    next_token: Annotated[str | None, Query(alias="nextToken")] = None,
) -> dict[str, Any]:
    rt = runtime_of(request)

    def run() -> dict[str, Any]:
        with rt.db.unit_of_work(write=False) as uow:
            rows, token = PipelineService(uow.session, rt.arns).list(max_results, next_token)
        return {"pipelines": rows, "nextToken": token}

    return await run_in_threadpool(run)


@router.get("/{name}", response_model=PipelineOut)
async def get_pipeline(
    request: Request, name: str, _caller: Caller, version: int | None = None
) -> dict[str, Any]:
    rt = runtime_of(request)

    def run() -> dict[str, Any]:
        with rt.db.unit_of_work(write=False) as uow:
            pipeline, metadata = PipelineService(uow.session, rt.arns).get(name, version)
        return {"pipeline": pipeline, "metadata": metadata}

    return await run_in_threadpool(run)


@router.post("", response_model=PipelineOut, status_code=201)
async def create_pipeline(request: Request, body: PipelineBody, caller: Caller) -> dict[str, Any]:
    """Create a pipeline and, as CreatePipeline does on AWS, start its first run."""
    rt = runtime_of(request)
    params = checked("CreatePipeline", body.model_dump(exclude_none=True))

    def run() -> dict[str, Any]:
        with rt.db.unit_of_work() as uow:
            pipeline = create_and_start(
                uow,
                rt.arns,
                rt.dispatcher,
                rt.executions,
                params["pipeline"],
                params.get("tags") or [],
                caller,
            )
        return {"pipeline": pipeline, "tags": params.get("tags") or None}

    return await run_in_threadpool(run)


@router.put("/{name}", response_model=PipelineOut)
async def update_pipeline(
    request: Request, name: str, body: PipelineBody, _caller: Caller
) -> dict[str, Any]:
    rt = runtime_of(request)
    if body.pipeline.get("name", name) != name:
        raise ServiceError("The pipeline name in the body must match the URL.")
    params = checked("UpdatePipeline", {"pipeline": {**body.pipeline, "name": name}})

    def run() -> dict[str, Any]:
        with rt.db.unit_of_work() as uow:
            pipeline = PipelineService(uow.session, rt.arns).update(params["pipeline"])
        return {"pipeline": pipeline}

    return await run_in_threadpool(run)


@router.delete("/{name}", status_code=204)
async def delete_pipeline(request: Request, name: str, _caller: Caller) -> Response:
    rt = runtime_of(request)

    def run() -> None:
        with rt.db.unit_of_work() as uow:
            PipelineService(uow.session, rt.arns).delete(name)

    await run_in_threadpool(run)
    return Response(status_code=204)
