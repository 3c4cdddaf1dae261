"""The console's pages (GET): pipelines, a pipeline, its executions, an execution, versions."""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from stageline.console import queries
from stageline.console.auth import runtime_of, visitor
from stageline.console.web import STATUS_LOOK, page, secure_headers
from stageline.domain.errors import ServiceError
from stageline.persistence.db import UnitOfWork
from stageline.services.action_logs import read_log
from stageline.services.execution_views import ExecutionViews, latest_attempt
from stageline.services.pipelines import PipelineService

router = APIRouter(prefix="/console", include_in_schema=False)
T = TypeVar("T")
FILTERABLE = [s for s in STATUS_LOOK if s not in ("Abandoned", "Skipped", "Waiting")]


async def read(request: Request, work: Callable[[UnitOfWork], T]) -> T:
    rt = runtime_of(request)

    def run() -> T:
        with rt.db.unit_of_work(write=False) as uow:
            return work(uow)

    return await run_in_threadpool(run)


async def live_mark(request: Request, pipeline: str | None) -> str:
    """Taken before the page's data, so a change in between is never missed (only re-read)."""
    return await read(request, lambda uow: queries.change_mark(uow.session, pipeline))


def not_found(request: Request, error: ServiceError, session: Any) -> Response:
    status = 404 if error.code.endswith("NotFoundException") else error.status
    return page(request, "error.html", {"error": error}, session, status=status)


@router.get("", response_class=HTMLResponse)
async def pipelines(request: Request, q: str = "", status: str = "") -> Response:
    who = visitor(request)
    mark = await live_mark(request, None)
    rows = await read(request, lambda uow: queries.pipelines_overview(uow.session, q, status))
    context = {"rows": rows, "q": q, "status": status, "statuses": FILTERABLE, "live": ""}
    context["mark"] = mark
    return page(request, "pipelines.html", context, who.session)


@router.get("/pipelines/{name}", response_class=HTMLResponse)
async def pipeline(request: Request, name: str) -> Response:
    who = visitor(request)
    mark = await live_mark(request, name)
    try:
        view = await read(
            request, lambda uow: queries.pipeline_view(ExecutionViews(uow.session), name)
        )
    except ServiceError as error:
        return not_found(request, error, who.session)
    return page(request, "pipeline.html", {**view, "live": name, "mark": mark}, who.session)


@router.get("/pipelines/{name}/executions", response_class=HTMLResponse)
async def executions(
    request: Request, name: str, status: str = "", before: int | None = None
) -> Response:
    who = visitor(request)
    mark = await live_mark(request, name)
    try:
        rows, more = await read(
            request,
            lambda uow: queries.history(ExecutionViews(uow.session), name, status, before),
        )
    except ServiceError as error:
        return not_found(request, error, who.session)
    context = {
        "name": name,
        "rows": rows,
        "more": more,
        "status": status,
        "statuses": FILTERABLE,
        "live": name,
        "mark": mark,
    }
    return page(request, "executions.html", context, who.session)


@router.get("/pipelines/{name}/executions/{execution_id}", response_class=HTMLResponse)
async def execution(request: Request, name: str, execution_id: str, action: str = "") -> Response:
    who = visitor(request)
    mark = await live_mark(request, name)
    try:
        view = await read(
            request, lambda uow: queries.timeline(ExecutionViews(uow.session), name, execution_id)
        )
    except ServiceError as error:
        return not_found(request, error, who.session)
    return page(
        request,
        "execution.html",
        {**view, "name": name, "focus": action, "live": name, "mark": mark},
        who.session,
    )


@router.get("/pipelines/{name}/executions/{execution_id}/actions/{action}/log")
async def action_log(request: Request, name: str, execution_id: str, action: str) -> Response:
    """The log so far as plain text (the page follows it live through its event stream)."""
    visitor(request)
    rt = runtime_of(request)

    def work(uow: UnitOfWork) -> int:
        return latest_attempt(ExecutionViews(uow.session), name, execution_id, action)[0]

    try:
        pk = await read(request, work)
    except ServiceError as error:
        return secure_headers(PlainTextResponse(error.message, status_code=404))
    text, _cursor = await run_in_threadpool(read_log, rt.db, pk, 0)
    return secure_headers(PlainTextResponse(text))


@router.get("/pipelines/{name}/versions", response_class=HTMLResponse)
async def compare(
    request: Request, name: str, a: int | None = None, b: int | None = None
) -> Response:
    """Two versions' JSON side by side as a line diff (default: the latest against the one
    before)."""
    who = visitor(request)
    rt = runtime_of(request)

    def work(uow: UnitOfWork) -> dict[str, Any]:
        service = PipelineService(uow.session, rt.arns)
        latest, _meta = service.get(name)
        pipeline = ExecutionViews(uow.session).pipeline(name)
        right = b or int(latest["version"])
        left = a or max(1, right - 1)
        old, _ = service.get(name, left)
        new, _ = service.get(name, right)
        lines = difflib.unified_diff(
            json.dumps(old, indent=2).splitlines(),
            json.dumps(new, indent=2).splitlines(),
            f"version {left}",
            f"version {right}",
            lineterm="",
            n=4,
        )
        return {
            "name": name,
            "a": left,
            "b": right,
            "diff": [_diff_line(line) for line in lines],
            "versions": queries.versions(uow.session, pipeline.id),
        }

    try:
        context = await read(request, work)
    except ServiceError as error:
        return not_found(request, error, who.session)
    return page(request, "versions.html", context, who.session)


def _diff_line(line: str) -> dict[str, str]:
    if line.startswith(("+++", "---")):
        kind = "file"
    elif line.startswith("@@"):
        kind = "hunk"
    else:
        kind = {"+": "add", "-": "del"}.get(line[:1], "same")
    return {"kind": kind, "text": line}


async def _with_declaration(
    request: Request,
    name: str,
    template: str,
    context: Callable[[dict[str, Any]], dict[str, Any]],
) -> Response:
    """A page built from the latest declaration as GetPipeline shows it (secrets masked)."""
    who = visitor(request)
    rt = runtime_of(request)
    try:
        declaration, _meta = await read(
            request, lambda uow: PipelineService(uow.session, rt.arns).get(name)
        )
    except ServiceError as error:
        return not_found(request, error, who.session)
    return page(
        request, template, {"name": name, "error": None, **context(declaration)}, who.session
    )


@router.get("/pipelines/{name}/edit", response_class=HTMLResponse)
async def edit(request: Request, name: str) -> Response:
    return await _with_declaration(
        request,
        name,
        "edit.html",
        lambda declaration: {"text": json.dumps({"pipeline": declaration}, indent=2)},
    )


@router.get("/pipelines/{name}/start", response_class=HTMLResponse)
async def start_form(request: Request, name: str) -> Response:
    return await _with_declaration(
        request,
        name,
        "start.html",
        lambda declaration: {"variables": declaration.get("variables") or []},
    )


def home_redirect() -> Response:
    return secure_headers(RedirectResponse("/console", status_code=307))
