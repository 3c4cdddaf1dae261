"""Where a build's log is: its own chunks (StartBuild) or its action attempt's (pipelines)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from stageline.domain.errors import ResourceNotFoundException
from stageline.persistence.db import Database
from stageline.persistence.models import Build
from stageline.services.action_logs import read_build_log, read_log


@dataclass(frozen=True)
class BuildLogRef:
    build_pk: int
    action_pk: int | None
    done: bool


def find_build_log(db: Database, build_id: str) -> BuildLogRef:
    with db.unit_of_work(write=False) as uow:
        row = uow.session.execute(
            select(Build.pk, Build.action_pk, Build.in_pipeline, Build.status).where(
                Build.build_id == build_id
            )
        ).one_or_none()
    if row is None:
        raise ResourceNotFoundException(f"Build not found: {build_id}")
    action_pk = row.action_pk if row.in_pipeline else None
    return BuildLogRef(row.pk, action_pk, row.status != "IN_PROGRESS")


def read_build(db: Database, ref: BuildLogRef, after: int) -> tuple[str, int]:
    if ref.action_pk is not None:
        return read_log(db, ref.action_pk, after)
    return read_build_log(db, ref.build_pk, after)
