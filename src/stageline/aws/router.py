"""POST / : AWS JSON 1.1 requests, routed by X-Amz-Target to a service's handlers."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from stageline.aws import sigv4
from stageline.aws.protocol import (
    CONTENT_TYPE,
    InternalFailure,
    NotImplementedOperation,
    RequestEntityTooLarge,
    SerializationException,
    UnknownOperationException,
    error_body,
    parse_body,
    to_wire,
)
from stageline.aws.shapes import check, validate_input
from stageline.aws.spec import operation_model, target_prefix
from stageline.domain.errors import ServiceError
from stageline.identity import Principal
from stageline.runtime import Runtime

log = logging.getLogger("stageline.aws")


@dataclass(frozen=True)
class AwsCall:
    service: str
    operation: str
    params: dict[str, Any]
    principal: Principal
    request_id: str


Handler = Callable[[Runtime, AwsCall], dict[str, Any] | None]


@dataclass(frozen=True)
class AwsService:
    name: str  # botocore's service name, e.g. "codepipeline"
    handlers: Mapping[str, Handler]


def build_router(runtime: Runtime, services: list[AwsService]) -> APIRouter:
    by_prefix = {target_prefix(s.name): s for s in services}
    router = APIRouter()

    @router.post("/", include_in_schema=False)
    async def aws_json(request: Request) -> Response:
        request_id = str(uuid.uuid4())
        try:
            body = await _read_body(request, runtime.settings.max_request_bytes)
            principal = authenticate_signed(runtime, request, body)
            service, operation = _route(by_prefix, request.headers.get("x-amz-target", ""))
            params = _validated_input(service.name, operation, body)
            call = AwsCall(service.name, operation, params, principal, request_id)
            output = await run_in_threadpool(service.handlers[operation], runtime, call)
            payload = _serialize(runtime, service.name, operation, output)
            return _response(200, payload, request_id)
        except ServiceError as error:
            return _error_response(error, request_id)
        except Exception:
            log.exception("request %s failed", request_id)
            failure = InternalFailure(f"Internal failure. Request id: {request_id}")
            return _error_response(failure, request_id)

    return router


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestEntityTooLarge(f"The request body exceeds {limit} bytes.")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestEntityTooLarge(f"The request body exceeds {limit} bytes.")
        chunks.append(chunk)
    return b"".join(chunks)


def authenticate_signed(runtime: Runtime, request: Request, body: bytes) -> Principal:
    """The principal of a SigV4-signed request (AWS endpoint and REST alike)."""
    signed = sigv4.SignedRequest(
        method=request.method,
        path=request.scope.get("raw_path", b"/").decode("latin-1"),
        query=request.scope.get("query_string", b"").decode("latin-1"),
        headers=request.headers,
        body=body,
    )
    credential = sigv4.verify(signed, runtime.keys.secret_for)
    return runtime.keys.principal(credential.access_key_id)


def _route(by_prefix: Mapping[str, AwsService], target: str) -> tuple[AwsService, str]:
    # The last dot: some prefixes have dots of their own (com.amazonaws.codeconnections.…).
    prefix, _, operation = target.rpartition(".")
    service = by_prefix.get(prefix)
    if service is None or operation_model(service.name, operation) is None:
        raise UnknownOperationException(f"Unknown operation: '{target or '(none)'}'.")
    if operation not in service.handlers:
        raise NotImplementedOperation(
            f"Stageline does not implement {service.name}:{operation} yet "
            "(see docs/compatibility.md)."
        )
    return service, operation


def _validated_input(service: str, operation: str, body: bytes) -> dict[str, Any]:
    params = parse_body(body)
    model = operation_model(service, operation)
    assert model is not None
    if model.input_shape is None:
        return params
    return validate_input(model.input_shape, params, type_error=SerializationException)


def _serialize(
    runtime: Runtime, service: str, operation: str, output: dict[str, Any] | None
) -> dict[str, Any]:
    payload: dict[str, Any] = to_wire(output or {})
    model = operation_model(service, operation)
    if runtime.settings.validate_responses and model is not None and model.output_shape:
        problems = check(model.output_shape, payload, strict=True)
        wrong = problems.constraints + problems.types
        if wrong:
            raise InternalFailure(f"{operation} response breaks the model: {'; '.join(wrong)}")
    return payload


def _response(status: int, payload: dict[str, Any], request_id: str) -> Response:
    return Response(
        content=json.dumps(payload, separators=(",", ":")),
        status_code=status,
        media_type=CONTENT_TYPE,
        headers={"x-amzn-RequestId": request_id},
    )


def _error_response(error: ServiceError, request_id: str) -> Response:
    return Response(
        content=error_body(error),
        status_code=error.status,
        media_type=CONTENT_TYPE,
        headers={"x-amzn-RequestId": request_id, "X-Amzn-ErrorType": error.code},
    )
