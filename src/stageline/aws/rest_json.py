"""AWS's REST-JSON protocol (e.g. CodeStar Notifications), from botocore's model: each
operation is a route at its `http.requestUri`; input members come from the JSON body, the
URI (`location: uri`) and the query string (`location: querystring`); errors carry
`X-Amzn-ErrorType` and the model's HTTP status for the exception.

Same pipeline as the JSON 1.1 router: body limit → SigV4 → input validation → handler in a
thread → wire serialization (→ strict response check when STAGELINE_VALIDATE_RESPONSES).
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import unquote

from botocore.model import OperationModel
from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from stageline.aws.protocol import InternalFailure, SerializationException, parse_body, to_wire
from stageline.aws.router import AwsCall, AwsService, _read_body, authenticate_signed
from stageline.aws.shapes import check, validate_input
from stageline.aws.spec import operation_model, service_model
from stageline.domain.errors import ServiceError
from stageline.runtime import Runtime

log = logging.getLogger("stageline.aws")
CONTENT_TYPE = "application/json"


def build_rest_router(runtime: Runtime, service: AwsService) -> APIRouter:
    router = APIRouter()
    statuses = {
        shape.name: int(shape.metadata.get("error", {}).get("httpStatusCode", 400))
        for shape in service_model(service.name).error_shapes
    }
    for name in service_model(service.name).operation_names:
        model = operation_model(service.name, name)
        assert model is not None
        if name not in service.handlers:
            continue
        path = re.sub(r"\{(\w+)\+?\}", r"{\1:path}", model.http["requestUri"])
        endpoint = _endpoint(runtime, service, model, statuses)
        router.add_api_route(
            path, endpoint, methods=[model.http["method"]], include_in_schema=False
        )
    return router


def _endpoint(
    runtime: Runtime, service: AwsService, model: OperationModel, statuses: dict[str, int]
) -> Callable[[Request], Awaitable[Response]]:
    handler = service.handlers[model.name]

    async def endpoint(request: Request) -> Response:
        request_id = str(uuid.uuid4())
        try:
            body = await _read_body(request, runtime.settings.max_request_bytes)
            principal = authenticate_signed(runtime, request, body)
            params = _input(model, request, body)
            call = AwsCall(service.name, model.name, params, principal, request_id)
            output = await run_in_threadpool(handler, runtime, call)
            payload = _serialize(runtime, model, output)
            return Response(
                json.dumps(payload, separators=(",", ":")),
                200,
                media_type=CONTENT_TYPE,
                headers={"x-amzn-RequestId": request_id},
            )
        except ServiceError as error:
            return _error(error, request_id, statuses)
        except Exception:
            log.exception("request %s failed", request_id)
            failure = InternalFailure(f"Internal failure. Request id: {request_id}")
            return _error(failure, request_id, statuses)

    return endpoint


def _input(model: OperationModel, request: Request, body: bytes) -> dict[str, Any]:
    params = parse_body(body)
    shape = model.input_shape
    if shape is None:
        return params
    for name, member in shape.members.items():
        location = member.serialization.get("location")
        wire = member.serialization.get("name", name)
        if location == "uri":
            value = request.path_params.get(wire)
            if value is not None:
                params[name] = unquote(value)
        elif location == "querystring":
            values = request.query_params.getlist(wire)
            if member.type_name == "list":
                if values:
                    params[name] = values
            elif values:
                params[name] = values[0]
        elif location == "header" and wire in request.headers:
            params[name] = request.headers[wire]
    return validate_input(shape, params, type_error=SerializationException)


def _serialize(runtime: Runtime, model: OperationModel, output: dict[str, Any] | None) -> Any:
    payload = to_wire(output or {})
    if runtime.settings.validate_responses and model.output_shape is not None:
        problems = check(model.output_shape, payload, strict=True)
        wrong = problems.constraints + problems.types
        if wrong:
            raise InternalFailure(f"{model.name} response breaks the model: {'; '.join(wrong)}")
    return payload


def _error(error: ServiceError, request_id: str, statuses: dict[str, int]) -> Response:
    status = statuses.get(error.code, error.status) if error.status < 500 else error.status
    return Response(
        json.dumps({"message": error.message}),
        status,
        media_type=CONTENT_TYPE,
        headers={"x-amzn-RequestId": request_id, "X-Amzn-ErrorType": error.code},
    )
