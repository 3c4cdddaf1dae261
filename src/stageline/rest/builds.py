"""/api/v1/builds and /api/v1/projects/{name}/builds: builds over REST — start, look, stop,
and the log, whole or followed live (it is in the database, so it follows any worker)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from stageline.aws.codebuild import initiator
from stageline.aws.shapes import validate_input
from stageline.aws.spec import operation_model
from stageline.domain.errors import ValidationException
from stageline.rest.common import Caller, runtime_of
from stageline.runtime import Runtime
from stageline.services.build_logs import find_build_log, read_build
from stageline.services.build_views import build_view
from stageline.services.builds import BuildService

router = APIRouter(prefix="/api/v1", tags=["builds"])
FOLLOW_POLL_SECONDS = 0.25
T = TypeVar("T")


class StartBody(BaseModel):
    """StartBuild's members (buildspecOverride, environmentVariablesOverride, ...)."""

    model_config = {"extra": "allow"}


async def _in_thread(fn: Callable[[], T]) -> T:
    return await run_in_threadpool(fn)


@router.post("/projects/{name}/builds", status_code=201)
async def start_build(name: str, body: StartBody, request: Request, caller: Caller) -> Any:
    rt = runtime_of(request)
    model = operation_model("codebuild", "StartBuild")
    assert model is not None and model.input_shape is not None
    params = validate_input(
        model.input_shape,
        {**(body.model_extra or {}), "projectName": name},
        type_error=ValidationException,
    )

    def start() -> Any:
        with rt.db.unit_of_work() as uow:
            build = BuildService(uow, rt.arns).start(params, initiator(caller), rt.dispatcher)
            return {"build": build_view(build, rt.arns, rt.settings.public_url)}

    return await _in_thread(start)


@router.get("/projects/{name}/builds")
async def list_builds(name: str, request: Request, _caller: Caller) -> Any:
    rt = runtime_of(request)

    def listing() -> Any:
        with rt.db.unit_of_work(write=False) as uow:
            ids, token = BuildService(uow, rt.arns).list(name, None, None)
        return {"ids": ids, "nextToken": token}

    return await _in_thread(listing)


@router.get("/builds/{build_id}")
async def get_build(build_id: str, request: Request, _caller: Caller) -> Any:
    rt = runtime_of(request)

    def get() -> Any:
        with rt.db.unit_of_work(write=False) as uow:
            build = BuildService(uow, rt.arns).get_row(build_id)
            return {"build": build_view(build, rt.arns, rt.settings.public_url)}

    return await _in_thread(get)


@router.post("/builds/{build_id}/stop")
async def stop_build(build_id: str, request: Request, _caller: Caller) -> Any:
    rt = runtime_of(request)

    def stop() -> Any:
        with rt.db.unit_of_work() as uow:
            build = BuildService(uow, rt.arns).stop(build_id)
            return {"build": build_view(build, rt.arns, rt.settings.public_url)}

    return await _in_thread(stop)


@router.get(
    "/builds/{build_id}/logs",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/plain": {}}}},
)
async def build_logs(
    build_id: str, request: Request, _caller: Caller, follow: bool = False
) -> StreamingResponse:
    rt = runtime_of(request)
    await run_in_threadpool(find_build_log, rt.db, build_id)  # 404 before streaming starts
    return StreamingResponse(_stream(rt, build_id, follow), media_type="text/plain")


async def _stream(rt: Runtime, build_id: str, follow: bool) -> AsyncIterator[str]:
    cursor = 0
    while True:
        ref = await run_in_threadpool(find_build_log, rt.db, build_id)
        text, cursor = await run_in_threadpool(read_build, rt.db, ref, cursor)
        if text:
            yield text
        if not follow or ref.done:
            if follow:  # the runner flushes the last lines before it records the end
                text, cursor = await run_in_threadpool(read_build, rt.db, ref, cursor)
                if text:
                    yield text
            return
        await asyncio.sleep(FOLLOW_POLL_SECONDS)
