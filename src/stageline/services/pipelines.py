"""Pipeline definitions: create, read, update (versioned), delete, list.

Every method runs inside the caller's unit of work and never commits. Updates are optimistic:
the version row is bumped with a conditional UPDATE, so two concurrent updates of one pipeline
cannot both win from the same base version.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from stageline.domain.arns import Arns
from stageline.domain.capabilities import check_runnable
from stageline.domain.custom_action_types import (
    check_queryable_values,
    mask_secrets,
    unmask_secrets,
)
from stageline.domain.errors import (
    ConcurrentModificationException,
    LimitExceededException,
    PipelineNameInUseException,
    PipelineNotFoundException,
    PipelineVersionNotFoundException,
)
from stageline.domain.validation import ActionTypeLookup, validate_pipeline
from stageline.persistence.models import Pipeline, PipelineVersion
from stageline.services.custom_action_types import ActionTypeCatalog
from stageline.services.pagination import decode_token, encode_token
from stageline.services.tags import TagService, check_tags

Clock = Callable[[], datetime]
# AWS's quota: 1,000 pipelines per Region per account.
MAX_PIPELINES = 1000


def utcnow() -> datetime:
    return datetime.now(UTC)


class PipelineService:
    def __init__(
        self,
        session: Session,
        arns: Arns,
        *,
        clock: Clock = utcnow,
        lookup: ActionTypeLookup | None = None,
    ) -> None:
        """lookup: the action types definitions may use; by default the built-in ones and the
        live custom and registered ones. Views mask the values of secret properties, also of
        types deleted since (or, with a given lookup, of the types it knows)."""
        self.session = session
        self.arns = arns
        self.clock = clock
        catalog = ActionTypeCatalog(session)
        self.lookup: ActionTypeLookup = lookup or catalog.live
        self.known: ActionTypeLookup = lookup or catalog.known
        self.tags = TagService(session)

    def _find(self, name: str) -> Pipeline:
        pipeline = self.session.scalar(select(Pipeline).where(Pipeline.name == name))
        if pipeline is None:
            raise PipelineNotFoundException(f"Pipeline {name} not found.")
        return pipeline

    def exists(self, name: str, *, lock: bool = False) -> bool:
        """lock: hold the pipeline's row until commit (Postgres; SQLite's write transactions
        are serial anyway), so tagging cannot interleave with a delete or another tagging."""
        query = select(Pipeline.id).where(Pipeline.name == name)
        return self.session.scalar(query.with_for_update() if lock else query) is not None

    def create(
        self, declaration: dict[str, Any], tags: Sequence[dict[str, Any]] = ()
    ) -> dict[str, Any]:
        decl = validate_pipeline(declaration, self.lookup, region=self.arns.region)
        check_runnable(decl)
        unmask_secrets(decl, None, self.lookup)
        check_queryable_values(decl, self.lookup)
        check_tags(tags)
        name = decl["name"]
        if self.exists(name):
            raise PipelineNameInUseException(f"A pipeline named {name} already exists.")
        count = self.session.scalar(select(func.count()).select_from(Pipeline)) or 0
        if count >= MAX_PIPELINES:
            raise LimitExceededException(f"An account can have at most {MAX_PIPELINES} pipelines.")
        decl["version"] = 1
        now = self.clock()
        pipeline = Pipeline(
            name=name,
            version=1,
            pipeline_type=decl["pipelineType"],
            execution_mode=decl["executionMode"],
            created_at=now,
            updated_at=now,
        )
        pipeline.versions.append(PipelineVersion(version=1, declaration=decl, created_at=now))
        try:
            # A savepoint, so a concurrent create of the same name fails cleanly here.
            with self.session.begin_nested():
                self.session.add(pipeline)
        except IntegrityError:
            raise PipelineNameInUseException(f"A pipeline named {name} already exists.") from None
        if tags:
            self.tags.tag(self.arns.pipeline(name), tags)
        return mask_secrets(copy.deepcopy(decl), self.known)

    def get(self, name: str, version: int | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
        """The declaration (latest or the given version) and AWS's metadata block.

        One prebuilt statement on the hot path (GetPipeline is the most frequent call); the
        declaration is freshly loaded JSON, so it is handed out without a copy."""
        wanted = Pipeline.version if version is None else version
        row = self.session.execute(
            _GET_PIPELINE.where(PipelineVersion.version == wanted), {"name": name}
        ).first()
        if row is None:
            latest = self._find(name).version  # PipelineNotFoundException if it is the name
            raise PipelineVersionNotFoundException(
                f"Pipeline {name} has no version {version}; its latest is {latest}."
            )
        metadata = {
            "pipelineArn": self.arns.pipeline(name),
            "created": row.created_at,
            "updated": row.updated_at,
        }
        return mask_secrets(row.declaration, self.known), metadata

    def update(self, declaration: dict[str, Any]) -> dict[str, Any]:
        decl = validate_pipeline(declaration, self.lookup, region=self.arns.region)
        check_runnable(decl)
        pipeline = self._find(decl["name"])
        base = pipeline.version
        given = declaration.get("version")
        if given is not None and given != base:
            raise ConcurrentModificationException(
                f"Pipeline {pipeline.name} is at version {base}, but this update was made from "
                f"version {given}. Get the pipeline again and reapply your change."
            )
        # "****" in a secret property keeps the value the action had (as GetPipeline shows it).
        unmask_secrets(decl, Declarations(self.session).get(pipeline.id, base), self.lookup)
        check_queryable_values(decl, self.lookup)
        now = self.clock()
        decl["version"] = base + 1
        bumped = self.session.execute(
            update(Pipeline)
            .where(Pipeline.id == pipeline.id, Pipeline.version == base)
            .values(
                version=base + 1,
                updated_at=now,
                pipeline_type=decl["pipelineType"],
                execution_mode=decl["executionMode"],
            )
            .execution_options(synchronize_session=False)
        )
        if bumped.rowcount != 1:  # type: ignore[attr-defined]
            raise ConcurrentModificationException(
                f"Pipeline {pipeline.name} was updated by another request; retry your update."
            )
        self.session.add(
            PipelineVersion(
                pipeline_id=pipeline.id, version=base + 1, declaration=decl, created_at=now
            )
        )
        self.session.flush()
        self.session.expire(pipeline)
        return mask_secrets(copy.deepcopy(decl), self.known)

    def delete(self, name: str) -> None:
        """Deleting a pipeline that does not exist succeeds, as on AWS."""
        # Locked before its tags go, so a concurrent TagResource cannot leave orphans behind.
        query = select(Pipeline).where(Pipeline.name == name).with_for_update()
        pipeline = self.session.scalar(query)
        if pipeline is None:
            return
        self.tags.delete_all(self.arns.pipeline(name))
        self.session.delete(pipeline)
        self.session.flush()

    def list(
        self, max_results: int | None = None, next_token: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        after = decode_token("pipelines", next_token)
        limit = max_results or 100
        query = _LIST_PIPELINES
        if after is not None:
            query = query.where(Pipeline.name > str(after.get("name", "")))
        rows = list(self.session.execute(query.limit(limit + 1)))
        token = None
        if len(rows) > limit:
            token = encode_token("pipelines", {"name": rows[limit - 1].name})
        return [_summary(p) for p in rows[:limit]], token


class Declarations:
    """Pipeline declarations by (pipeline id, version), each read at most once per unit of work:
    versions are immutable, and executions and views ask for the same one repeatedly."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._loaded: dict[tuple[int, int], dict[str, Any]] = {}

    def get(self, pipeline_id: int, version: int) -> dict[str, Any]:
        key = (pipeline_id, version)
        if key not in self._loaded:
            declaration = self.session.scalar(
                select(PipelineVersion.declaration).where(
                    PipelineVersion.pipeline_id == pipeline_id, PipelineVersion.version == version
                )
            )
            assert declaration is not None, f"pipeline {pipeline_id} has no version {version}"
            self._loaded[key] = declaration
        return self._loaded[key]


def _summary(row: Any) -> dict[str, Any]:
    return {
        "name": row.name,
        "version": row.version,
        "pipelineType": row.pipeline_type,
        "executionMode": row.execution_mode,
        "created": row.created_at,
        "updated": row.updated_at,
    }


_GET_PIPELINE = (
    select(PipelineVersion.declaration, Pipeline.created_at, Pipeline.updated_at)
    .join(Pipeline, Pipeline.id == PipelineVersion.pipeline_id)
    .where(Pipeline.name == bindparam("name"))
)
_LIST_PIPELINES = select(
    Pipeline.name,
    Pipeline.version,
    Pipeline.pipeline_type,
    Pipeline.execution_mode,
    Pipeline.created_at,
    Pipeline.updated_at,
).order_by(Pipeline.name)
