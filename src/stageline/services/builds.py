"""Builds: StartBuild, StopBuild, BatchGetBuilds, ListBuilds, ListBuildsForProject.

A started build is a row IN_PROGRESS in phase QUEUED; the dispatcher wakes a worker after the
commit, and the build runner claims it with a lease. Its settings are the project's with
StartBuild's overrides applied, frozen in the row: changing the project later does not
change a build that already started.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from stageline.domain.arns import Arns
from stageline.domain.errors import InvalidInputException, ResourceNotFoundException
from stageline.persistence.db import UnitOfWork
from stageline.persistence.models import Build, BuildProject
from stageline.services.build_projects import (
    RUNNABLE_SOURCES,
    ProjectService,
    check_document,
    page_offset,
)
from stageline.services.pagination import encode_token
from stageline.services.ports import Clock, Dispatcher, utcnow

PAGE = 100
IDEMPOTENCY_WINDOW = timedelta(minutes=5)  # CodeBuild keeps an idempotencyToken this long
# StartBuild members that replace one setting of the project.
_OVERRIDES = {
    "secondarySourcesOverride": "secondarySources",
    "secondarySourcesVersionOverride": "secondarySourceVersions",
    "artifactsOverride": "artifacts",
    "secondaryArtifactsOverride": "secondaryArtifacts",
    "cacheOverride": "cache",
    "serviceRoleOverride": "serviceRole",
    "timeoutInMinutesOverride": "timeoutInMinutes",
    "queuedTimeoutInMinutesOverride": "queuedTimeoutInMinutes",
    "encryptionKeyOverride": "encryptionKey",
    "logsConfigOverride": "logsConfig",
}
_ENV_OVERRIDES = {
    "environmentTypeOverride": "type",
    "imageOverride": "image",
    "computeTypeOverride": "computeType",
    "privilegedModeOverride": "privilegedMode",
    "certificateOverride": "certificate",
    "imagePullCredentialsTypeOverride": "imagePullCredentialsType",
}
_SOURCE_OVERRIDES = {
    "sourceTypeOverride": "type",
    "sourceLocationOverride": "location",
    "buildspecOverride": "buildspec",
    "gitCloneDepthOverride": "gitCloneDepth",
    "insecureSslOverride": "insecureSsl",
}


class BuildService:
    def __init__(self, uow: UnitOfWork, arns: Arns, clock: Clock = utcnow) -> None:
        self.uow, self.session, self.arns, self.clock = uow, uow.session, arns, clock

    def start(self, params: dict[str, Any], initiator: str, dispatcher: Dispatcher) -> Build:
        project = ProjectService(self.session, self.arns).get_row(params["projectName"])
        token = params.get("idempotencyToken")
        if token and (earlier := self._by_token(project.name, token)) is not None:
            return earlier
        if project.document.get("source", {}).get("type") == "CODEPIPELINE":
            raise InvalidInputException(
                "Builds of a project whose source type is CODEPIPELINE start from their "
                "pipeline; override sourceTypeOverride to start one here."
            )
        document = effective_document(project.document, params)
        build = self.create(project, document, initiator, params.get("sourceVersion"))
        build.idempotency_token = token
        self.uow.after_commit(lambda: dispatcher.dispatch_build(build.build_id))
        return build

    def create(
        self,
        project: BuildProject,
        document: dict[str, Any],
        initiator: str,
        source_version: str | None,
        *,
        action_pk: int | None = None,
    ) -> Build:
        """A new build of a project, IN_PROGRESS in phase QUEUED (pipeline builds too)."""
        check_document(document)
        kind = document["source"]["type"]
        if action_pk is None and kind not in RUNNABLE_SOURCES - {"CODEPIPELINE"}:
            raise InvalidInputException(
                f"Stageline cannot fetch {kind} sources yet: use an S3 source, NO_SOURCE with "
                "a buildspec, or run the build from a pipeline."
            )
        project = self.session.get(BuildProject, project.pk, with_for_update=True) or project
        project.build_counter += 1
        now = self.clock()
        build_id = f"{project.name}:{uuid.uuid4()}"
        row = Build(
            build_id=build_id,
            project_name=project.name,
            build_number=project.build_counter,
            status="IN_PROGRESS",
            current_phase="QUEUED",
            phases=[
                _phase("SUBMITTED", now.timestamp(), now.timestamp(), "SUCCEEDED"),
                _phase("QUEUED", now.timestamp()),
            ],
            initiator=initiator,
            source_version=source_version or document.get("sourceVersion"),
            document=document,
            in_pipeline=action_pk is not None,
            action_pk=action_pk,
            dispatched_at=now,
            started_at=now,
        )
        self.session.add(row)
        self.session.flush()
        return row

    def stop(self, build_id: str) -> Build:
        row = self.get_row(build_id)
        if row.status == "IN_PROGRESS":
            # The runner notices within a second and ends the build STOPPED.
            self.session.execute(
                update(Build).where(Build.pk == row.pk).values(stop_requested=True)
            )
            row.stop_requested = True
        return row

    def batch_get(self, ids: Sequence[str]) -> tuple[list[Build], list[str]]:
        found: list[Build] = []
        missing: list[str] = []
        for ref in ids:
            row = self._find(ref)
            (found.append(row) if row is not None else missing.append(ref))
        return found, missing

    def list(
        self, project_name: str | None, sort_order: str | None, token: str | None
    ) -> tuple[list[str], str | None]:
        if project_name is not None:
            ProjectService(self.session, self.arns).get_row(project_name)
        kind = f"builds:{project_name or ''}"
        offset = page_offset(kind, token)
        query = select(Build.build_id)
        if project_name is not None:
            query = query.where(Build.project_name == project_name)
        order = Build.pk.asc() if sort_order == "ASCENDING" else Build.pk.desc()
        ids = list(self.session.scalars(query.order_by(order).offset(offset).limit(PAGE + 1)))
        more = len(ids) > PAGE
        return ids[:PAGE], encode_token(kind, {"o": offset + PAGE}) if more else None

    def get_row(self, ref: str) -> Build:
        row = self._find(ref)
        if row is None:
            raise ResourceNotFoundException(f"Build not found: {ref}")
        return row

    def _find(self, ref: str) -> Build | None:
        build_id = ref.removeprefix(self.arns.build(""))
        return self.session.scalar(select(Build).where(Build.build_id == build_id))

    def _by_token(self, project: str, token: str) -> Build | None:
        return self.session.scalar(
            select(Build).where(
                Build.project_name == project,
                Build.idempotency_token == token,
                Build.started_at > self.clock() - IDEMPOTENCY_WINDOW,
            )
        )


def effective_document(project: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """The project's settings with StartBuild's overrides applied."""
    doc = copy.deepcopy(project)
    for member, key in _OVERRIDES.items():
        if params.get(member) is not None:
            doc[key] = params[member]
    source = doc.setdefault("source", {})
    for member, key in _SOURCE_OVERRIDES.items():
        if params.get(member) is not None:
            source[key] = params[member]
    environment = doc.setdefault("environment", {})
    for member, key in _ENV_OVERRIDES.items():
        if params.get(member) is not None:
            environment[key] = params[member]
    environment["environmentVariables"] = merge_variables(
        environment.get("environmentVariables") or [],
        params.get("environmentVariablesOverride") or [],
    )
    return doc


def merge_variables(
    base: Sequence[dict[str, Any]], overrides: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Variables by name, an override replacing the project's variable of the same name."""
    merged = {v["name"]: {"type": "PLAINTEXT", **v} for v in base}
    merged.update({v["name"]: {"type": "PLAINTEXT", **v} for v in overrides})
    return list(merged.values())


def _phase(
    phase_type: str, start: float, end: float | None = None, status: str | None = None
) -> dict[str, Any]:
    phase: dict[str, Any] = {"phaseType": phase_type, "startTime": start}
    if end is not None:
        phase.update(endTime=end, durationInSeconds=int(end - start), phaseStatus=status)
    return phase
