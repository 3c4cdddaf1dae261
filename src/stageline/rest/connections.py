"""/api/v1/connections: what the AWS API cannot say about a connection — finishing it with
credentials (AWS does that in its console), the host address it reaches, and its webhook URL
and secret. Credentials go in and never come out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Body, Request
from starlette.concurrency import run_in_threadpool

from stageline.domain.connections import PUBLIC_ENDPOINTS
from stageline.persistence.models_connections import Connection
from stageline.rest.common import Caller, runtime_of
from stageline.runtime import Runtime
from stageline.services.connections import ConnectionService
from stageline.services.secret_box import SecretBox

router = APIRouter(prefix="/api/v1", tags=["connections"])
T = TypeVar("T")


async def _in_unit(rt: Runtime, fn: Callable[[ConnectionService], T], write: bool) -> T:
    def run() -> T:
        with rt.db.unit_of_work(write=write) as uow:
            return fn(ConnectionService(uow.session, rt.arns, SecretBox.from_settings(rt.settings)))

    return await run_in_threadpool(run)


def detail(rt: Runtime, service: ConnectionService, row: Connection) -> dict[str, Any]:
    """Everything about a connection except its secrets."""
    endpoint = row.host.provider_endpoint if row.host else PUBLIC_ENDPOINTS.get(row.provider_type)
    base = rt.settings.public_url.rstrip("/")
    return {
        "connectionId": row.connection_id,
        "connectionArn": service.connection_arn(row),
        "connectionName": row.name,
        "providerType": row.provider_type,
        "status": row.status,
        "hostArn": service.host_arn(row.host) if row.host else None,
        "providerEndpoint": endpoint,
        "credentials": row.credential_kind,  # the kind only: token, basic, ssh, anonymous
        "webhookUrl": f"{base}/webhooks/connections/{row.connection_id}",
        "webhookSecretUrl": f"{base}/api/v1/connections/{row.connection_id}/webhook-secret",
        "createdAt": row.created_at.isoformat(),
        "updatedAt": row.updated_at.isoformat(),
    }


@router.get("/connections")
async def list_connections(
    request: Request,
    _caller: Caller,
    nextToken: str | None = None,  # AWS's spelling of the paging token
) -> Any:
    rt = runtime_of(request)

    def listing(service: ConnectionService) -> Any:
        rows, token = service.connection_rows({"MaxResults": 100, "NextToken": nextToken})
        return {"connections": [detail(rt, service, r) for r in rows], "nextToken": token}

    return await _in_unit(rt, listing, write=False)


@router.get("/connections/{connection_id}")
async def get_connection(connection_id: str, request: Request, _caller: Caller) -> Any:
    rt = runtime_of(request)
    return await _in_unit(
        rt, lambda s: {"connection": detail(rt, s, s.by_id(connection_id))}, write=False
    )


@router.put("/connections/{connection_id}/credentials")
async def put_credentials(
    connection_id: str,
    request: Request,
    _caller: Caller,
    body: Annotated[dict[str, Any], Body()],
) -> Any:
    """Body: {"token": ...} | {"username": ..., "password": ...} | {"sshPrivateKey": ...} |
    {"anonymous": true}. The connection becomes AVAILABLE."""
    rt = runtime_of(request)
    return await _in_unit(
        rt, lambda s: {"connection": detail(rt, s, s.complete(connection_id, body))}, write=True
    )


@router.get("/connections/{connection_id}/webhook-secret")
async def get_webhook_secret(connection_id: str, request: Request, _caller: Caller) -> Any:
    """The secret the git host signs events with (GitHub's HMAC key, GitLab's token)."""
    rt = runtime_of(request)
    return await _in_unit(
        rt, lambda s: {"webhookSecret": s.webhook_secret(connection_id)}, write=False
    )


@router.post("/connections/{connection_id}/webhook-secret")
async def rotate_webhook_secret(connection_id: str, request: Request, _caller: Caller) -> Any:
    """A new webhook secret; the old one stops working at once."""
    rt = runtime_of(request)
    return await _in_unit(
        rt, lambda s: {"webhookSecret": s.rotate_webhook_secret(connection_id)}, write=True
    )
