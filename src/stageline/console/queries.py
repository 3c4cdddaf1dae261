"""What the console pages show, read in one unit of work each: the pipelines overview, a
pipeline's live state, execution history and an execution's timeline. Reads only; the shapes
come from the same read services as the API (execution_views, pipeline_state)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from stageline.domain.status import ACTION_TERMINAL, EXECUTION_TERMINAL
from stageline.persistence.models import (
    ActionExecution,
    Pipeline,
    PipelineExecution,
    PipelineVersion,
    StageTransition,
    StatusChange,
)
from stageline.services.execution_views import ExecutionViews
from stageline.services.pipeline_state import pipeline_state

RECENT_RUNS = 12
HISTORY_PAGE = 25


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def seconds_between(start: datetime, end: datetime | None) -> float:
    return ((_utc(end) if end else datetime.now(UTC)) - _utc(start)).total_seconds()


def run_row(execution: PipelineExecution) -> dict[str, Any]:
    """An execution as a row of a list: ended runs last until their last update."""
    ended = execution.status in EXECUTION_TERMINAL
    return {
        "id": execution.execution_id,
        "status": execution.status,
        "summary": execution.status_summary,
        "trigger": execution.trigger_type,
        "trigger_detail": execution.trigger_detail,
        "version": execution.pipeline_version,
        "started": execution.created_at,
        "ended": execution.updated_at if ended else None,
        "seconds": seconds_between(execution.created_at, execution.updated_at if ended else None),
        "stop_mode": execution.stop_mode,
    }


def pipelines_overview(
    session: Session, search: str = "", status: str = ""
) -> list[dict[str, Any]]:
    """Every pipeline with its latest run and the results of its recent runs (newest first)."""
    ranked = select(
        PipelineExecution,
        func.row_number()
        .over(partition_by=PipelineExecution.pipeline_id, order_by=PipelineExecution.pk.desc())
        .label("rank"),
    ).subquery()
    recent = aliased(PipelineExecution, ranked)
    runs: dict[int, list[dict[str, Any]]] = {}
    for row in session.scalars(
        select(recent)
        .where(ranked.c.rank <= RECENT_RUNS)
        .order_by(ranked.c.pipeline_id, ranked.c.pk.desc())
    ):
        runs.setdefault(row.pipeline_id, []).append(run_row(row))
    result = []
    for pipeline in session.scalars(select(Pipeline).order_by(Pipeline.name)):
        history = runs.get(pipeline.id, [])
        latest = history[0] if history else None
        if search and search.lower() not in pipeline.name.lower():
            continue
        if status and (latest["status"] if latest else "") != status:
            continue
        result.append(
            {
                "name": pipeline.name,
                "version": pipeline.version,
                "type": pipeline.pipeline_type,
                "mode": pipeline.execution_mode,
                "updated": pipeline.updated_at,
                "latest": latest,
                "recent": history,
            }
        )
    return result


def pipeline_view(views: ExecutionViews, name: str) -> dict[str, Any]:
    """GetPipelineState, with what the page adds: revisions' messages, the execution each
    action ran in, the runs in flight and recent superseded ones."""
    state = pipeline_state(views, name)
    pipeline = views.pipeline(name)
    declaration = views.declaration(pipeline.id, pipeline.version)
    ids = [
        a["latestExecution"]["actionExecutionId"]
        for s in state["stageStates"]
        for a in s["actionStates"]
        if "latestExecution" in a
    ]
    attempts = {
        row.ActionExecution.action_execution_id: row
        for row in views.session.execute(
            select(ActionExecution, PipelineExecution.execution_id)
            .join(PipelineExecution, PipelineExecution.pk == ActionExecution.execution_pk)
            .where(ActionExecution.action_execution_id.in_(ids))
        )
    }
    kinds = {
        (s["name"], a["name"]): a["actionTypeId"]
        for s in declaration["stages"]
        for a in s["actions"]
    }
    for stage in state["stageStates"]:
        for action in stage["actionStates"]:
            action["type"] = kinds.get((stage["stageName"], action["actionName"]), {})
            latest = action.get("latestExecution")
            found = attempts.get(latest["actionExecutionId"]) if latest else None
            if found is None:
                continue
            attempt = found.ActionExecution
            action["executionId"] = found.execution_id
            action["started"] = attempt.started_at
            action["revision"] = attempt.revision
            action["ended"] = attempt.updated_at if attempt.status in ACTION_TERMINAL else None
    active = session_runs(views.session, pipeline.id, active=True)
    superseded = session_runs(views.session, pipeline.id, statuses=("Superseded",), limit=5)
    return {"state": state, "pipeline": pipeline, "active": active, "superseded": superseded}


def session_runs(
    session: Session,
    pipeline_id: int,
    *,
    active: bool = False,
    statuses: tuple[str, ...] = (),
    limit: int = 20,
) -> list[dict[str, Any]]:
    query = select(PipelineExecution).where(PipelineExecution.pipeline_id == pipeline_id)
    if active:
        query = query.where(PipelineExecution.status.in_(("InProgress", "Stopping")))
    if statuses:
        query = query.where(PipelineExecution.status.in_(statuses))
    rows = session.scalars(query.order_by(PipelineExecution.pk.desc()).limit(limit))
    return [{**run_row(r), "waiting": r.waiting, "stage_index": r.stage_index} for r in rows]


def history(
    views: ExecutionViews, name: str, status: str = "", before: int | None = None
) -> tuple[list[dict[str, Any]], int | None]:
    """A page of a pipeline's executions, newest first, with their source revisions."""
    pipeline = views.pipeline(name)
    query = select(PipelineExecution).where(PipelineExecution.pipeline_id == pipeline.id)
    if status:
        query = query.where(PipelineExecution.status == status)
    if before is not None:
        query = query.where(PipelineExecution.pk < before)
    rows = list(
        views.session.scalars(query.order_by(PipelineExecution.pk.desc()).limit(HISTORY_PAGE + 1))
    )
    more = rows[HISTORY_PAGE - 1].pk if len(rows) > HISTORY_PAGE else None
    result = []
    for row in rows[:HISTORY_PAGE]:
        detail = views.get_execution(name, row.execution_id)
        result.append({**run_row(row), "revisions": detail["artifactRevisions"]})
    return result, more


def timeline(views: ExecutionViews, name: str, execution_id: str) -> dict[str, Any]:
    """An execution with every action attempt placed on one time axis (a Gantt per stage)."""
    pipeline = views.pipeline(name)
    execution = views.execution(pipeline, execution_id)
    detail = views.get_execution(name, execution_id)
    rows, _token = views.list_action_executions(name, execution_id, 100, None)
    rows.sort(key=lambda r: (r["startTime"], r["actionExecutionId"]))
    declaration = views.declaration(pipeline.id, execution.pipeline_version)
    order = {s["name"]: i for i, s in enumerate(declaration["stages"])}
    start = _utc(execution.created_at)
    running = execution.status not in EXECUTION_TERMINAL
    end = datetime.now(UTC) if running else _utc(execution.updated_at)
    stages: dict[str, list[dict[str, Any]]] = {s["name"]: [] for s in declaration["stages"]}
    for row in rows:
        finished = row["status"] in ACTION_TERMINAL
        began = _utc(row["startTime"])
        stopped = _utc(row["lastUpdateTime"]) if finished else None
        if stopped and stopped > end:
            end = stopped
        stages.setdefault(row["stageName"], []).append(
            {
                **row,
                "began": began,
                "stopped": stopped,
                "seconds": seconds_between(began, stopped),
            }
        )
    span = max((end - start).total_seconds(), 1.0)
    ordered = sorted(stages.items(), key=lambda item: order.get(item[0], len(order)))
    # The action list shows each action's latest attempt (its log is the one followed).
    latest = [
        (stage, row)
        for stage, attempts in ordered
        for row in {r["actionName"]: r for r in attempts}.values()
    ]
    return {
        "pipeline": pipeline,
        "execution": {**run_row(execution), "detail": detail},
        "stages": ordered,
        "latest": latest,
        "axis": {"start": start, "end": end, "seconds": span, "running": running},
    }


def versions(session: Session, pipeline_id: int) -> list[dict[str, Any]]:
    rows = session.execute(
        select(PipelineVersion.version, PipelineVersion.created_at)
        .where(PipelineVersion.pipeline_id == pipeline_id)
        .order_by(PipelineVersion.version.desc())
    )
    return [{"version": r.version, "created": r.created_at} for r in rows]


def change_mark(session: Session, pipeline: str | None) -> str:
    """A fingerprint that moves whenever what a page shows may have: status changes (the
    orchestrator records each, and actions' summaries and results change with their status),
    transitions, pipeline versions. Cheap aggregates, polled by the live streams."""
    if pipeline is None:
        marks = session.execute(
            select(
                select(func.count(Pipeline.id)).scalar_subquery(),
                select(func.max(Pipeline.updated_at)).scalar_subquery(),
                select(func.max(StatusChange.pk)).scalar_subquery(),
                select(func.max(StageTransition.changed_at)).scalar_subquery(),
            )
        ).one()
        return "|".join(str(m) for m in marks)
    found = session.execute(
        select(Pipeline.id, Pipeline.version).where(Pipeline.name == pipeline)
    ).first()
    if found is None:
        return "gone"
    pid = found.id
    marks = session.execute(
        select(
            select(func.max(StatusChange.pk))
            .where(StatusChange.pipeline_id == pid)
            .scalar_subquery(),
            select(func.max(StageTransition.changed_at))
            .where(StageTransition.pipeline_id == pid)
            .scalar_subquery(),
        )
    ).one()
    return "|".join(str(m) for m in (found.version, *marks))
