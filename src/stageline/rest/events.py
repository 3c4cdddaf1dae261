"""/api/v1/events, /api/v1/deliveries and webhook target secrets: the stored events (kept
STAGELINE_EVENT_RETENTION_DAYS), where their notifications stand, and the HMAC key of a
`Webhook` notification target (readable and rotatable here only, never through the AWS API)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from stageline.rest.common import Caller, runtime_of
from stageline.services.event_delivery import list_deliveries, list_events
from stageline.services.notification_rules import NotificationRules

router = APIRouter(prefix="/api/v1", tags=["events"])
T = TypeVar("T")
Limit = Annotated[int, Query(ge=1, le=1000)]


async def _run(request: Request, work: Callable[[NotificationRules], T], write: bool) -> T:
    rt = runtime_of(request)

    def run() -> T:
        with rt.db.unit_of_work(write=write) as uow:
            rules = NotificationRules(uow.session, rt.settings)
            return work(rules)

    return await run_in_threadpool(run)


@router.get("/events")
async def get_events(
    request: Request,
    _caller: Caller,
    pipeline: str | None = None,
    execution_id: Annotated[str | None, Query(alias="executionId")] = None,
    after: Annotated[int, Query(ge=0, description="Sequence number to list after")] = 0,
    limit: Limit = 100,
) -> dict[str, Any]:
    """Events in EventBridge's format, oldest first; `after` is the last `sequence` seen."""
    events = await _run(
        request,
        lambda r: list_events(
            r.session, pipeline=pipeline, execution_id=execution_id, after=after, limit=limit
        ),
        write=False,
    )
    return {"events": events, "nextAfter": events[-1]["sequence"] if events else after}


@router.get("/deliveries")
async def get_deliveries(
    request: Request,
    _caller: Caller,
    status: Literal["pending", "failed", "delivered", "dropped"] | None = None,
    after: Annotated[int, Query(ge=0)] = 0,
    limit: Limit = 100,
) -> dict[str, Any]:
    """Notification deliveries: `failed` ones are being retried (see attempts, lastError,
    nextAttemptAt)."""
    rows = await _run(
        request,
        lambda r: list_deliveries(r.session, status=status, after=after, limit=limit),
        write=False,
    )
    return {"deliveries": rows}


@router.get("/notification-targets/secret")
async def get_target_secret(request: Request, _caller: Caller, address: str) -> dict[str, Any]:
    """The key of a Webhook target's `X-Stageline-Signature-256` header."""

    def read(rules: NotificationRules) -> dict[str, Any]:
        target = rules.target(address)
        secret = rules.secret(address)
        return {"address": target.address, "type": target.target_type, "secret": secret}

    return await _run(request, read, write=False)


@router.post("/notification-targets/secret/rotate")
async def rotate_target_secret(request: Request, _caller: Caller, address: str) -> dict[str, Any]:
    secret = await _run(request, lambda r: r.rotate_secret(address), write=True)
    return {"address": address, "secret": secret}
