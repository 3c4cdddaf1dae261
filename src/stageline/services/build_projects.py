"""CodeBuild projects: create, update, delete, read, list — CodeBuild's API over one table.

The request has already passed botocore's shape checks (types, enums, lengths, ranges); the
rules here are the ones the model cannot state, with CodeBuild's InvalidInputException.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from stageline.domain.arns import Arns
from stageline.domain.errors import (
    InvalidInputException,
    InvalidNextTokenException,
    ResourceAlreadyExistsException,
    ResourceNotFoundException,
)
from stageline.persistence.models import BuildProject
from stageline.services.pagination import decode_token, encode_token
from stageline.services.ports import Clock, utcnow

# Members of CreateProject/UpdateProject that are the project's settings (name and tags aside).
SETTINGS = (
    "description",
    "source",
    "secondarySources",
    "sourceVersion",
    "secondarySourceVersions",
    "artifacts",
    "secondaryArtifacts",
    "cache",
    "environment",
    "serviceRole",
    "timeoutInMinutes",
    "queuedTimeoutInMinutes",
    "encryptionKey",
    "vpcConfig",
    "logsConfig",
    "fileSystemLocations",
    "buildBatchConfig",
    "concurrentBuildLimit",
    "autoRetryLimit",
)
# Source types whose code Stageline can fetch today; git hosts come with connections.
RUNNABLE_SOURCES = {"S3", "NO_SOURCE", "CODEPIPELINE"}
PAGE = 100


class ProjectService:
    def __init__(self, session: Session, arns: Arns, clock: Clock = utcnow) -> None:
        self.session, self.arns, self.clock = session, arns, clock

    def create(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["name"]
        if self._find(name) is not None:
            raise ResourceAlreadyExistsException(
                f"Project already exists: {self.arns.project(name)}"
            )
        document = {k: params[k] for k in SETTINGS if params.get(k) is not None}
        document.setdefault("secondarySources", [])
        document.setdefault("secondaryArtifacts", [])
        document.setdefault("secondarySourceVersions", [])
        check_document(document)
        now = self.clock()
        row = BuildProject(
            name=name,
            document=_with_defaults(document, self.arns),
            tags=list(params.get("tags") or []),
            build_counter=0,
            created_at=now,
            updated_at=now,
        )
        self.session.add(row)
        self.session.flush()
        return self.view(row)

    def update(self, params: dict[str, Any]) -> dict[str, Any]:
        row = self.get_row(params["name"])
        document = dict(row.document)
        document.update({k: params[k] for k in SETTINGS if params.get(k) is not None})
        check_document(document)
        row.document = document
        if params.get("tags") is not None:
            row.tags = list(params["tags"])
        row.updated_at = self.clock()
        return self.view(row)

    def delete(self, name: str) -> None:
        # As CodeBuild: deleting a project that does not exist is not an error; its builds stay.
        row = self._find(name)
        if row is not None:
            self.session.delete(row)

    def batch_get(self, names: Sequence[str]) -> tuple[list[dict[str, Any]], list[str]]:
        found, missing = [], []
        for ref in names:
            row = self._find(self._name_of(ref))
            if row is None:
                missing.append(ref)
            else:
                found.append(self.view(row))
        return found, missing

    def list(
        self, sort_by: str | None, sort_order: str | None, token: str | None
    ) -> tuple[list[str], str | None]:
        column = {
            "CREATED_TIME": BuildProject.created_at,
            "LAST_MODIFIED_TIME": BuildProject.updated_at,
        }.get(sort_by or "NAME", BuildProject.name)
        order = column.desc() if sort_order == "DESCENDING" else column.asc()
        offset = page_offset("projects", token)
        names = list(
            self.session.scalars(
                select(BuildProject.name)
                .order_by(order, BuildProject.pk)
                .offset(offset)
                .limit(PAGE + 1)
            )
        )
        more = len(names) > PAGE
        return names[:PAGE], encode_token("projects", {"o": offset + PAGE}) if more else None

    def get_row(self, name_or_arn: str) -> BuildProject:
        row = self._find(self._name_of(name_or_arn))
        if row is None:
            raise ResourceNotFoundException(
                f"Project cannot be found: {self.arns.project(self._name_of(name_or_arn))}"
            )
        return row

    def view(self, row: BuildProject) -> dict[str, Any]:
        return {
            "name": row.name,
            "arn": self.arns.project(row.name),
            **row.document,
            "tags": row.tags,
            "created": row.created_at,
            "lastModified": row.updated_at,
            "badge": {"badgeEnabled": False},
            "projectVisibility": "PRIVATE",
        }

    def _find(self, name: str) -> BuildProject | None:
        return self.session.scalar(select(BuildProject).where(BuildProject.name == name))

    def _name_of(self, ref: str) -> str:
        prefix = self.arns.project("")
        return ref[len(prefix) :] if ref.startswith(prefix) else ref


def page_offset(kind: str, token: str | None) -> int:
    """The offset a CodeBuild nextToken names (CodeBuild answers InvalidInputException)."""
    try:
        position = decode_token(kind, token)
    except InvalidNextTokenException:
        raise InvalidInputException("Invalid next token.") from None
    offset = (position or {}).get("o", 0)
    if not isinstance(offset, int) or offset < 0:
        raise InvalidInputException("Invalid next token.")
    return offset


def check_document(doc: dict[str, Any]) -> None:
    """CodeBuild's cross-field rules, checked on create, update and each build's overrides."""
    source, artifacts = doc.get("source", {}), doc.get("artifacts", {})
    in_pipeline = [source.get("type") == "CODEPIPELINE", artifacts.get("type") == "CODEPIPELINE"]
    if any(in_pipeline) and not all(in_pipeline):
        raise InvalidInputException(
            "Both source and artifacts must be set to CodePipeline: a project's source type is "
            "CODEPIPELINE exactly when its artifacts type is."
        )
    for where, item in [("source", source), *(("secondarySources", s) for s in _sec(doc))]:
        _check_source(where, item)
    if source.get("type") == "NO_SOURCE" and not source.get("buildspec"):
        raise InvalidInputException(
            "Project source buildspec cannot be empty when type is NO_SOURCE"
        )
    for where, item in [("artifacts", artifacts), *_sec_artifacts(doc)]:
        if item.get("type") == "S3" and not item.get("location"):
            raise InvalidInputException(f"{where}: S3 artifacts need a location (a bucket name).")
    _unique(doc.get("secondarySources") or [], "sourceIdentifier", "secondarySources")
    _unique(doc.get("secondaryArtifacts") or [], "artifactIdentifier", "secondaryArtifacts")
    if (doc.get("buildBatchConfig") or {}) and doc.get("buildBatchConfig") != {}:
        raise InvalidInputException(
            "Batch builds (buildBatchConfig) are not supported by Stageline yet."
        )


def _sec(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return list(doc.get("secondarySources") or [])


def _sec_artifacts(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [("secondaryArtifacts", a) for a in doc.get("secondaryArtifacts") or []]


def _check_source(where: str, source: dict[str, Any]) -> None:
    kind = source.get("type")
    if kind == "S3":
        bucket, _, key = (source.get("location") or "").partition("/")
        if not bucket or not key:
            raise InvalidInputException(
                f"{where}: an S3 source location is <bucket>/<key> (or <bucket>/<folder>/), "
                f"not '{source.get('location') or ''}'."
            )
    elif kind not in ("NO_SOURCE", "CODEPIPELINE") and not source.get("location"):
        raise InvalidInputException(f"{where}: a {kind} source needs a location.")


def _unique(items: list[dict[str, Any]], key: str, where: str) -> None:
    seen: set[str] = set()
    for item in items:
        ident = item.get(key)
        if not ident:
            raise InvalidInputException(f"{where}: every entry needs a {key}.")
        if ident in seen:
            raise InvalidInputException(f"{where}: {key} '{ident}' is used twice.")
        seen.add(ident)


def _with_defaults(doc: dict[str, Any], arns: Arns) -> dict[str, Any]:
    """What CodeBuild fills in for settings left out of CreateProject."""
    doc.setdefault("timeoutInMinutes", 60)
    doc.setdefault("queuedTimeoutInMinutes", 480)
    doc.setdefault("cache", {"type": "NO_CACHE"})
    doc.setdefault("encryptionKey", f"arn:aws:kms:{arns.region}:{arns.account_id}:alias/aws/s3")
    doc.setdefault(
        "logsConfig",
        {"cloudWatchLogs": {"status": "ENABLED"}, "s3Logs": {"status": "DISABLED"}},
    )
    return doc
