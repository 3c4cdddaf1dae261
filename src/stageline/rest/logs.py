"""Action logs over REST: the whole log so far, or (follow=true) streamed until the action
ends — the log is in the database, so it follows a worker on any host."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from stageline.domain.status import ACTION_TERMINAL
from stageline.rest.common import Caller, runtime_of
from stageline.runtime import Runtime
from stageline.services.action_logs import read_log
from stageline.services.execution_views import ExecutionViews, latest_attempt

router = APIRouter(prefix="/api/v1/pipelines/{name}", tags=["logs"])
FOLLOW_POLL_SECONDS = 0.25


def _attempt(rt: Runtime, name: str, execution_id: str, action: str) -> tuple[int, str]:
    with rt.db.unit_of_work(write=False) as uow:
        return latest_attempt(ExecutionViews(uow.session), name, execution_id, action)


@router.get(
    "/executions/{execution_id}/actions/{action}/logs",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/plain": {}}}},
)
async def action_logs(
    request: Request,
    name: str,
    execution_id: str,
    action: str,
    _caller: Caller,
    follow: bool = False,
) -> StreamingResponse:
    rt = runtime_of(request)
    pk, _status = await run_in_threadpool(_attempt, rt, name, execution_id, action)
    return StreamingResponse(
        _stream(rt, name, execution_id, action, pk, follow), media_type="text/plain"
    )


async def _stream(
    rt: Runtime, name: str, execution_id: str, action: str, pk: int, follow: bool
) -> AsyncIterator[str]:
    cursor = 0
    while True:
        text, cursor = await run_in_threadpool(read_log, rt.db, pk, cursor)
        if text:
            yield text
        if not follow:
            return
        _pk, status = await run_in_threadpool(_attempt, rt, name, execution_id, action)
        if status in ACTION_TERMINAL or _pk != pk:
            # One last read: the worker flushes its final lines before recording the end.
            text, cursor = await run_in_threadpool(read_log, rt.db, pk, cursor)
            if text:
                yield text
            return
        await asyncio.sleep(FOLLOW_POLL_SECONDS)
