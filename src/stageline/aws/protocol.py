"""AWS JSON 1.1 wire format: request parsing, error bodies, output serialization."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from stageline.domain.errors import ServiceError

CONTENT_TYPE = "application/x-amz-json-1.1"


class SerializationException(ServiceError):
    code = "SerializationException"


class UnknownOperationException(ServiceError):
    code = "UnknownOperationException"


class NotImplementedOperation(ServiceError):
    """An operation in the model that this Stageline does not run yet (HTTP 501)."""

    code = "NotImplemented"
    status = 501


class RequestEntityTooLarge(ServiceError):
    code = "RequestEntityTooLargeException"
    status = 413


class InternalFailure(ServiceError):
    code = "InternalFailure"
    status = 500


def parse_body(body: bytes) -> dict[str, Any]:
    """The JSON object of a request; an empty body is an empty input, as on AWS."""
    if not body.strip():
        return {}
    try:
        value = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SerializationException(f"The request body is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise SerializationException("The request body must be a JSON object.")
    params: dict[str, Any] = _without_nulls(value)
    return params


def _without_nulls(value: Any) -> Any:
    """AWS reads a null member as an absent one (so a required one is "Member must not be
    null"); a null list element means nothing, so the body cannot be deserialized."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        if any(item is None for item in value):
            raise SerializationException("A list in the request body contains null.")
        return [_without_nulls(v) for v in value]
    return value


def to_wire(value: Any) -> Any:
    """Timestamps become epoch seconds; None members are left out, as AWS leaves them out."""
    if isinstance(value, dict):
        return {k: to_wire(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [to_wire(v) for v in value]
    if isinstance(value, datetime):
        return round(value.timestamp(), 3)
    return value


def error_body(error: ServiceError) -> bytes:
    return json.dumps({"__type": error.code, "message": error.message}).encode()
