"""Shared pieces of the REST routers: the runtime, the caller, input checks."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request

from stageline.aws.shapes import validate_input
from stageline.aws.spec import operation_model
from stageline.domain.errors import ValidationException
from stageline.identity import Principal
from stageline.rest.auth import authenticate
from stageline.runtime import Runtime

Caller = Annotated[Principal, Depends(authenticate)]


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def checked(operation: str, params: dict[str, Any]) -> dict[str, Any]:
    """Validate against the same botocore input shape as the AWS endpoint."""
    model = operation_model("codepipeline", operation)
    assert model is not None and model.input_shape is not None
    return validate_input(model.input_shape, params, type_error=ValidationException)
