"""Starting runs on source changes, shared by webhooks, git events, polling and
PutActionRevision: each run pinned to the revision that started it, each revision of the
watched branch or object started once however many detectors see it."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from stageline.domain.errors import (
    ActionNotFoundException,
    PipelineNotFoundException,
    StageNotFoundException,
    ValidationException,
)
from stageline.domain.git_events import commit_id_problem
from stageline.persistence.db import UnitOfWork
from stageline.persistence.models import ActionExecution, Pipeline, PipelineExecution
from stageline.persistence.models_triggers import SourceWatch
from stageline.services.executions import ExecutionService
from stageline.services.orchestrator import ExecutionSettings, Orchestrator
from stageline.services.pipelines import Declarations
from stageline.services.ports import Clock, Dispatcher, utcnow

log = logging.getLogger(__name__)

# StartPipelineExecution's sourceRevisions type for a provider's revisions.
REVISION_TYPES = {
    "S3": "S3_OBJECT_VERSION_ID",
    "CodeStarSourceConnection": "COMMIT_ID",
    "GitHub": "COMMIT_ID",
    "CodeCommit": "COMMIT_ID",
}


@dataclass(frozen=True)
class Starter:
    """What starting an execution needs; the composition root supplies it."""

    dispatcher: Dispatcher
    settings: ExecutionSettings

    def executions(self, uow: UnitOfWork) -> ExecutionService:
        return ExecutionService(Orchestrator(uow, self.dispatcher, self.settings))

    def start(
        self,
        uow: UnitOfWork,
        pipeline: str,
        action: Mapping[str, Any],
        revision: str | None,
        trigger: str,
        detail: str | None,
        branch: str | None = None,
    ) -> str:
        """An execution of `pipeline`, its source `action` pinned to `revision` (when the
        provider has a revision type and there is a revision), read from `branch` when the
        event came from another branch than the one the action declares."""
        kind = REVISION_TYPES.get(action["actionTypeId"]["provider"])
        pins: list[dict[str, str]] = []
        if kind is not None and revision:
            pin = {"actionName": action["name"], "revisionType": kind, "revisionValue": revision}
            if branch and kind == "COMMIT_ID":
                # Kept with the execution only (the runner hands it to the source provider as
                # its continuation); the public sourceRevisions shape stays AWS's.
                pin["branchName"] = branch
            pins.append(pin)
        return self.executions(uow).start(
            pipeline, trigger=trigger, trigger_detail=detail, source_revisions=pins
        )


@dataclass(frozen=True)
class SourceRef:
    """One source action of a pipeline's current version."""

    pipeline_id: int
    pipeline: str
    declaration: Mapping[str, Any]
    action: Mapping[str, Any]

    @property
    def name(self) -> str:
        return str(self.action["name"])

    @property
    def provider(self) -> str:
        return str(self.action["actionTypeId"]["provider"])

    @property
    def configuration(self) -> Mapping[str, str]:
        config: Mapping[str, str] = self.action.get("configuration") or {}
        return config


def source_actions(session: Session, pipeline: str | None = None) -> Iterator[SourceRef]:
    """The first-stage actions of every pipeline (or of one), as their current versions
    declare them."""
    query = select(Pipeline.id, Pipeline.name, Pipeline.version).order_by(Pipeline.id)
    if pipeline is not None:
        query = query.where(Pipeline.name == pipeline)
    declarations = Declarations(session)
    for row in session.execute(query).all():
        declaration = declarations.get(row.id, row.version)
        for action in declaration["stages"][0]["actions"]:
            yield SourceRef(row.id, row.name, declaration, action)


class SourceWatches:
    """The last revision started (or first seen) per source action; every move is a
    conditional UPDATE from a known value, so concurrent detectors start a revision once."""

    def __init__(self, session: Session, clock: Clock = utcnow) -> None:
        self.session = session
        self.clock = clock

    def get(self, pipeline_id: int, action: str) -> SourceWatch | None:
        return self.session.scalar(
            select(SourceWatch).where(
                SourceWatch.pipeline_id == pipeline_id, SourceWatch.action_name == action
            )
        )

    def all(self) -> dict[tuple[int, str], str | None]:
        """Every recorded revision by (pipeline id, action name), in one query."""
        rows = self.session.execute(
            select(SourceWatch.pipeline_id, SourceWatch.action_name, SourceWatch.revision)
        )
        return {(row.pipeline_id, row.action_name): row.revision for row in rows}

    def first(self, pipeline_id: int, action: str, revision: str) -> bool:
        """Record a first observation; False when another process recorded one first."""
        try:
            with self.session.begin_nested():
                self.session.add(
                    SourceWatch(
                        pipeline_id=pipeline_id,
                        action_name=action,
                        revision=revision,
                        updated_at=self.clock(),
                    )
                )
        except IntegrityError:
            return False
        return True

    def advance(self, pipeline_id: int, action: str, old: str | None, new: str) -> bool:
        """Move from `old` to `new`; False when the row no longer holds `old`."""
        same = SourceWatch.revision.is_(None) if old is None else SourceWatch.revision == old
        result = self.session.execute(
            update(SourceWatch)
            .where(
                SourceWatch.pipeline_id == pipeline_id,
                SourceWatch.action_name == action,
                same,
            )
            .values(revision=new, updated_at=self.clock())
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0) == 1)

    def claim(self, pipeline_id: int, action: str, revision: str) -> bool:
        """Take `revision` as started; False when it already was (by any detector, or by the
        action's latest run or PutActionRevision)."""
        if self.get(pipeline_id, action) is None and self.first(pipeline_id, action, revision):
            return not self.started(pipeline_id, action, revision, pinned_only=True)
        result = self.session.execute(
            update(SourceWatch)
            .where(
                SourceWatch.pipeline_id == pipeline_id,
                SourceWatch.action_name == action,
                or_(SourceWatch.revision.is_(None), SourceWatch.revision != revision),
            )
            .values(revision=revision, updated_at=self.clock())
            .execution_options(synchronize_session=False)
        )
        moved = bool(getattr(result, "rowcount", 0) == 1)
        return moved and not self.started(pipeline_id, action, revision, pinned_only=True)

    def started(
        self, pipeline_id: int, action: str, revision: str, *, pinned_only: bool = False
    ) -> bool:
        """The pipeline's newest execution is pinned to `revision` for `action` (so a detector
        seeing it has nothing new: PutActionRevision started it) or, unless `pinned_only`,
        the action's latest run ran it (a manual start read that head already)."""
        latest = last_started(self.session, pipeline_id, action, pinned_only=pinned_only)
        return latest is not None and latest[0] == revision


def last_started(
    session: Session, pipeline_id: int, action: str, *, pinned_only: bool = False
) -> tuple[str, str] | None:
    """(revision, execution id) that `action` was last started on: the newest execution's pin
    for it, else the revision of the action's newest run; None when neither is known."""
    newest = session.execute(
        select(PipelineExecution.execution_id, PipelineExecution.source_overrides)
        .where(PipelineExecution.pipeline_id == pipeline_id)
        .order_by(PipelineExecution.pk.desc())
        .limit(1)
    ).first()
    if newest is None:
        return None
    for pin in newest.source_overrides or ():
        if pin.get("actionName") == action and pin.get("revisionValue"):
            return str(pin["revisionValue"]), str(newest.execution_id)
    if pinned_only:
        return None
    ran = session.execute(
        select(ActionExecution.revision, PipelineExecution.execution_id)
        .join(PipelineExecution, PipelineExecution.pk == ActionExecution.execution_pk)
        .where(ActionExecution.pipeline_id == pipeline_id, ActionExecution.action_name == action)
        .order_by(ActionExecution.pk.desc())
        .limit(1)
    ).first()
    revision = (ran.revision or {}).get("revisionId") if ran is not None else None
    return (str(revision), str(ran.execution_id)) if ran is not None and revision else None


def put_action_revision(
    uow: UnitOfWork,
    starter: Starter,
    pipeline: str,
    stage: str,
    action: str,
    revision: str,
    caller: str,
) -> tuple[bool, str | None]:
    """PutActionRevision: (newRevision, execution id). The revision the action was last
    started on (or change detection last saw) is not new and starts nothing; any other starts
    a run pinned to it. The change-detection record is left alone: an older revision must not
    make polling run the branch head again (detectors skip what this run started)."""
    session = uow.session
    found = session.scalar(select(Pipeline).where(Pipeline.name == pipeline))
    if found is None:
        raise PipelineNotFoundException(f"Pipeline {pipeline} not found.")
    declaration = Declarations(session).get(found.id, found.version)
    stages = {s["name"]: s for s in declaration["stages"]}
    if stage not in stages:
        raise StageNotFoundException(f"Stage {stage} not found in pipeline {pipeline}.")
    declared = next((a for a in stages[stage]["actions"] if a["name"] == action), None)
    if declared is None:
        raise ActionNotFoundException(f"Action {action} not found in stage {stage}.")
    if stage != declaration["stages"][0]["name"]:
        raise ValidationException(
            f"Action {action} is not a source action: PutActionRevision applies to actions "
            "of the first stage."
        )
    if declared["actionTypeId"]["provider"] == "CodeStarSourceConnection":
        problem = commit_id_problem(action, revision)
        if problem:
            raise ValidationException(problem)
    latest = last_started(session, found.id, action)
    if latest is not None and latest[0] == revision:
        return False, latest[1]
    watch = SourceWatches(session).get(found.id, action)
    if watch is not None and watch.revision == revision and latest is None:
        return False, None  # seen by change detection, no run of it known
    return True, starter.start(uow, pipeline, declared, revision, "PutActionRevision", caller)
