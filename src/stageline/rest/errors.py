"""ServiceError → REST JSON error, with the status a REST client expects."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse

from stageline.domain.errors import ServiceError

_CONFLICTS = {
    "PipelineNameInUseException",
    "ConcurrentModificationException",
    "ConflictException",
    "ResourceAlreadyExistsException",
}


def rest_status(error: ServiceError) -> int:
    if error.code.endswith("NotFoundException"):
        return 404
    if error.code in _CONFLICTS:
        return 409
    return error.status


async def service_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceError)
    return JSONResponse(
        status_code=rest_status(exc),
        content={"error": {"code": exc.code, "message": exc.message}},
        headers={"X-Amzn-ErrorType": exc.code},
    )
