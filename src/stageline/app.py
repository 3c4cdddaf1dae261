"""create_app(): the FastAPI application with the AWS endpoint, the REST API and health."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from stageline import __version__, console
from stageline.aws import codebuild, codepipeline, connections, s3_artifacts
from stageline.aws import codestar_notifications as notifications_api
from stageline.aws.rest_json import build_rest_router
from stageline.aws.router import build_router
from stageline.domain.errors import ServiceError
from stageline.rest import builds as rest_builds
from stageline.rest import connections as rest_connections
from stageline.rest import events as rest_events
from stageline.rest import executions as rest_executions
from stageline.rest import logs as rest_logs
from stageline.rest import pipelines as rest_pipelines
from stageline.rest import webhooks as rest_webhooks
from stageline.rest.errors import service_error_handler
from stageline.runtime import Runtime
from stageline.settings import Settings


async def _request_validation_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
    return JSONResponse(
        status_code=400,
        content={"error": {"code": "ValidationException", "message": problems}},
    )


def create_app(runtime: Runtime | None = None, settings: Settings | None = None) -> FastAPI:
    runtime = runtime or Runtime.from_settings(settings or Settings())

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        runtime.start_background()
        try:
            yield
        finally:
            runtime.close()

    app = FastAPI(
        lifespan=lifespan,
        title="Stageline",
        version=__version__,
        description="Self-hosted continuous delivery that speaks AWS CodePipeline's API. "
        "The AWS JSON endpoint is POST / (use the AWS CLI or boto3 with --endpoint-url); "
        "this page documents the REST API. Authenticate with HTTP Basic (access key id / "
        "secret) or SigV4.",
    )
    app.state.runtime = runtime
    app.add_exception_handler(ServiceError, service_error_handler)
    app.add_exception_handler(RequestValidationError, _request_validation_handler)

    @app.get("/healthz", tags=["health"])
    def healthz() -> JSONResponse:
        ok = runtime.db.ping()
        return JSONResponse(
            status_code=200 if ok else 503,
            content={
                "status": "ok" if ok else "unavailable",
                "database": ok,
                "version": __version__,
            },
        )

    # The AWS endpoint first: it takes most calls, so it should not wait on REST matching.
    app.include_router(
        build_router(runtime, [codepipeline.SERVICE, codebuild.SERVICE, *connections.SERVICES])
    )
    # REST-JSON services (CodeStar Notifications): their own POST /<operation> paths.
    app.include_router(build_rest_router(runtime, notifications_api.SERVICE))
    app.include_router(rest_pipelines.router)
    app.include_router(rest_executions.router)
    app.include_router(rest_logs.router)
    app.include_router(rest_builds.router)
    app.include_router(rest_events.router)
    app.include_router(rest_connections.router)
    app.include_router(rest_webhooks.router)  # git hosts' deliveries: their own auth
    console.install(app, runtime)  # the web console under /console, and GET / → /console
    # Job workers' S3 calls (SigV4 scope service `s3`) go to the artifact endpoint, whatever
    # their path; everything else reaches the routes above.
    app.add_middleware(s3_artifacts.S3Dispatch, s3=s3_artifacts.build_app(runtime))
    return app
