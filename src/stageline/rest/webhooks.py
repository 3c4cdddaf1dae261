"""Webhook receivers. No Stageline credentials: git hosts authenticate with the webhook's
own scheme (HMAC signature, token header, caller address), checked by the services.

- `POST /webhooks/trigger?t=TOKEN&v=1` — a V1 webhook's URL (PutWebhook).
- `POST /webhooks/connections/{connection id}` — a connection's event URL (push and pull
  request events of GitHub and GitLab).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool

from stageline.aws.codepipeline_webhooks import box, starter, webhooks
from stageline.domain.errors import ServiceError
from stageline.rest.common import runtime_of
from stageline.runtime import Runtime
from stageline.services.git_events import GitEventReceiver
from stageline.services.webhooks import Delivery, deliver

PayloadTooLarge = type(
    "PayloadTooLarge", (ServiceError,), {"code": "ValidationException", "status": 413}
)
router = APIRouter(prefix="/webhooks", tags=["webhooks"])
RuntimeDep = Annotated[Runtime, Depends(runtime_of)]
MAX_BODY = 25 * 1024 * 1024  # GitHub caps payloads at 25 MB


async def _delivery(request: Request) -> Delivery:
    """The raw body, read up to MAX_BODY (no one makes the server hold more)."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise PayloadTooLarge("The payload is larger than 25 MB.")
        chunks.append(chunk)
    body = b"".join(chunks)
    client = request.client.host if request.client is not None else None
    return Delivery(body, dict(request.headers), client)


@router.post("/trigger")
async def trigger(
    request: Request, rt: RuntimeDep, t: Annotated[str, Query(min_length=1)]
) -> dict[str, Any]:
    delivery = await _delivery(request)

    def run() -> str | None:
        with rt.db.unit_of_work() as uow:
            return deliver(uow, webhooks(rt, uow.session), starter(rt), t, delivery)

    execution_id = await run_in_threadpool(run)
    return {"started": execution_id is not None, "pipelineExecutionId": execution_id}


@router.post("/connections/{connection_id}")
async def connection_event(request: Request, rt: RuntimeDep, connection_id: str) -> dict[str, Any]:
    delivery = await _delivery(request)
    receiver = GitEventReceiver(box(rt), starter(rt))

    def run() -> list[str]:
        with rt.db.unit_of_work(write=False) as uow:
            prepared = receiver.prepare(uow.session, connection_id, delivery)
        if not prepared.targets:
            return []
        receiver.complete(prepared)
        with rt.db.unit_of_work() as uow:
            return receiver.start(uow, prepared)

    started = await run_in_threadpool(run)
    return {"started": len(started), "pipelineExecutionIds": started}
