"""Server-sent events: `change` when what a page shows may have moved (polled from the
database, so it sees workers on any host), and an action's log as it is written.

Streams end after MAX_STREAM_SECONDS and the browser's EventSource reconnects (the `retry`
field); the log stream resumes from Last-Event-ID, its chunk cursor, so nothing repeats.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from stageline.console.auth import runtime_of, visitor
from stageline.console.queries import change_mark
from stageline.console.web import SECURITY_HEADERS
from stageline.domain.errors import ServiceError
from stageline.domain.status import ACTION_TERMINAL
from stageline.runtime import Runtime
from stageline.services.action_logs import read_log
from stageline.services.execution_views import ExecutionViews, latest_attempt

router = APIRouter(prefix="/console/events", include_in_schema=False)
POLL_SECONDS = 0.5
HEARTBEAT_SECONDS = 15.0
MAX_STREAM_SECONDS = 300.0
RECONNECT_MS = 2000


def event(kind: str, data: str, event_id: str | None = None) -> str:
    """One SSE event; multi-line data becomes several data: lines, as the format requires."""
    lines = [f"event: {kind}"]
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines += [f"data: {line}" for line in data.split("\n")]
    return "\n".join(lines) + "\n\n"


def _stream(body: AsyncIterator[str]) -> StreamingResponse:
    headers = {**SECURITY_HEADERS, "X-Accel-Buffering": "no"}
    return StreamingResponse(body, media_type="text/event-stream", headers=headers)


def _mark(rt: Runtime, pipeline: str | None) -> str:
    with rt.db.unit_of_work(write=False) as uow:
        return change_mark(uow.session, pipeline)


@router.get("/changes")
async def changes(request: Request, pipeline: str | None = None) -> StreamingResponse:
    """`change` (data: the new mark) whenever the mark moves; a first `hello` with the mark."""
    visitor(request)
    rt = runtime_of(request)

    async def body() -> AsyncIterator[str]:
        yield f"retry: {RECONNECT_MS}\n\n"
        mark = await run_in_threadpool(_mark, rt, pipeline)
        yield event("hello", json.dumps({"mark": mark}))
        began = last_sent = time.monotonic()
        while time.monotonic() - began < MAX_STREAM_SECONDS:
            await asyncio.sleep(POLL_SECONDS)
            if await request.is_disconnected():
                return
            now = await run_in_threadpool(_mark, rt, pipeline)
            if now != mark:
                mark, last_sent = now, time.monotonic()
                yield event("change", json.dumps({"mark": mark}))
            elif time.monotonic() - last_sent > HEARTBEAT_SECONDS:
                last_sent = time.monotonic()
                yield ": keep-alive\n\n"

    return _stream(body())


def _attempt(rt: Runtime, name: str, execution_id: str, action: str) -> tuple[int, str]:
    with rt.db.unit_of_work(write=False) as uow:
        return latest_attempt(ExecutionViews(uow.session), name, execution_id, action)


@router.get("/logs/{name}/{execution_id}/{action}")
async def logs(request: Request, name: str, execution_id: str, action: str) -> StreamingResponse:
    """`log` events (text, id = the chunk cursor) until the attempt ends, then `end`."""
    visitor(request)
    rt = runtime_of(request)
    given = request.headers.get("last-event-id", "")
    cursor = int(given) if given.isdigit() else 0

    async def body() -> AsyncIterator[str]:
        nonlocal cursor
        yield f"retry: {RECONNECT_MS}\n\n"
        try:
            pk, status = await run_in_threadpool(_attempt, rt, name, execution_id, action)
        except ServiceError as error:
            yield event("end", json.dumps({"status": None, "message": error.message}))
            return
        began = time.monotonic()
        while time.monotonic() - began < MAX_STREAM_SECONDS:
            text, cursor = await run_in_threadpool(read_log, rt.db, pk, cursor)
            if text:
                yield event("log", text, str(cursor))
            if status in ACTION_TERMINAL:
                yield event("end", json.dumps({"status": status}))
                return
            await asyncio.sleep(POLL_SECONDS)
            if await request.is_disconnected():
                return
            latest, status = await run_in_threadpool(_attempt, rt, name, execution_id, action)
            if latest != pk:  # retried: this attempt's log is complete
                status = "Superseded"
                text, cursor = await run_in_threadpool(read_log, rt.db, pk, cursor)
                if text:
                    yield event("log", text, str(cursor))
                yield event("end", json.dumps({"status": status}))
                return

    return _stream(body())
