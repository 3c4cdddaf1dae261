"""What a build leaves behind: its artifacts (primary and secondary, zipped or as files) in
the object store, and its cache between builds of a project."""

from __future__ import annotations

import hashlib
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stageline.artifacts.base import ObjectNotFound, ObjectRef, ObjectStore
from stageline.artifacts.zips import pack_directory, select_files
from stageline.builds import sandbox
from stageline.builds.cache import pack_cache, unpack_cache
from stageline.builds.model import ArtifactSpec, BuildSpec, LogSink
from stageline.services.build_phases import say

LOCAL_CACHE_BUCKET = "stageline-build-cache"


class BuildFailure(Exception):
    """A build ends FAILED in the current phase, with CodeBuild's context code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass(frozen=True)
class OutputTarget:
    identifier: str | None  # None: the buildspec's `artifacts`; else a secondary identifier
    ref: ObjectRef  # the zip's key, or (packaging NONE) the prefix of the files
    packaging: str = "ZIP"
    name_from_buildspec: bool = False  # overrideArtifactName: the buildspec's name wins


def upload_outputs(
    store: ObjectStore, targets: Sequence[OutputTarget], spec: BuildSpec, src: Path, log: LogSink
) -> dict[str, Any]:
    """Upload every target; BatchGetBuilds' `artifacts` and `secondaryArtifacts`."""
    view: dict[str, Any] = {"secondaryArtifacts": []}
    for target in targets:
        artifact = _spec_for(spec, target)
        ref = _named(target, artifact)
        store.ensure_bucket(ref.bucket)
        entry = _upload(store, target, artifact, ref, src, log)
        if target.identifier is None:
            view["artifacts"] = entry
        else:
            view["secondaryArtifacts"].append({**entry, "artifactIdentifier": target.identifier})
    return view


def _spec_for(spec: BuildSpec, target: OutputTarget) -> ArtifactSpec:
    if target.identifier is None:
        if spec.artifacts is None:
            raise BuildFailure(
                "CLIENT_ERROR", "the buildspec has no artifacts section for the build's artifacts"
            )
        return spec.artifacts
    found = spec.secondary_artifacts.get(target.identifier)
    if found is None:
        raise BuildFailure(
            "CLIENT_ERROR",
            f"no secondary-artifacts entry '{target.identifier}' in the buildspec "
            f"(it has: {', '.join(spec.secondary_artifacts) or 'none'})",
        )
    return found


def _named(target: OutputTarget, artifact: ArtifactSpec) -> ObjectRef:
    if not (target.name_from_buildspec and artifact.name):
        return target.ref
    prefix = target.ref.key.rpartition("/")[0]
    return ObjectRef(target.ref.bucket, f"{prefix}/{artifact.name}" if prefix else artifact.name)


def _upload(
    store: ObjectStore,
    target: OutputTarget,
    artifact: ArtifactSpec,
    ref: ObjectRef,
    src: Path,
    log: LogSink,
) -> dict[str, Any]:
    a = artifact
    with tempfile.TemporaryDirectory(prefix="stageline-out-") as tmp:
        archive = Path(tmp) / "artifact.zip"
        try:
            count = pack_directory(
                src,
                archive,
                patterns=a.files,
                base_directory=a.base_directory,
                discard_paths=a.discard_paths,
                exclude=a.exclude_paths,
            )
            if target.packaging == "NONE":  # the files themselves, under the key
                chosen = select_files(
                    src,
                    patterns=a.files,
                    base_directory=a.base_directory,
                    discard_paths=a.discard_paths,
                    exclude=a.exclude_paths,
                )
                for item in chosen:
                    store.put_file(ref.bucket, f"{ref.key}/{item.name}", item.path)
        except ValueError as exc:
            raise BuildFailure("CLIENT_ERROR", f"artifacts: {exc}") from None
        if count == 0:
            raise BuildFailure(
                "CLIENT_ERROR",
                f"no matching artifact paths found (files: {', '.join(artifact.files)})",
            )
        data = archive.read_bytes()
        if target.packaging != "NONE":
            store.put_file(ref.bucket, ref.key, archive, headers={"ContentType": "application/zip"})
    where = target.identifier or "primary"
    say(log, f"Uploaded {count} files of artifact {where} to s3://{ref.bucket}/{ref.key}")
    return {
        "location": f"arn:aws:s3:::{ref.bucket}/{ref.key}",
        "sha256sum": hashlib.sha256(data).hexdigest(),
        "md5sum": hashlib.md5(data, usedforsecurity=False).hexdigest(),
    }


def _home(workspace: Path) -> Path:
    """The build's HOME (where `~` and /root cache paths live), as the sandbox lays it out."""
    return workspace / sandbox.CONTROL_DIR / "home"


def _cache_ref(project: str, document: dict[str, Any]) -> ObjectRef | None:
    cache = document.get("cache") or {}
    if cache.get("type") == "S3" and cache.get("location"):
        bucket, _, prefix = cache["location"].partition("/")
        return ObjectRef(bucket, f"{prefix.rstrip('/')}/{project}.tgz".lstrip("/"))
    if cache.get("type") == "LOCAL":
        return ObjectRef(LOCAL_CACHE_BUCKET, f"{project}.tgz")
    return None


def restore_cache(
    store: ObjectStore,
    project: str,
    document: dict[str, Any],
    spec: BuildSpec,
    workspace: Path,
    log: LogSink,
) -> None:
    ref = _cache_ref(project, document)
    if not spec.cache_paths:
        return
    if ref is None:
        say(log, "cache paths are not kept: the project's cache type is NO_CACHE")
        return
    archive = workspace / f".{uuid.uuid4().hex}.cache"
    try:
        store.get_file(ref.bucket, ref.key, archive)
    except ObjectNotFound:
        say(log, "No cache yet for this project")
        return
    try:
        count = unpack_cache(archive, workspace / "src", _home(workspace))
    finally:
        archive.unlink(missing_ok=True)
    say(log, f"Restored {count} cached files from s3://{ref.bucket}/{ref.key}")


def save_cache(
    store: ObjectStore,
    project: str,
    document: dict[str, Any],
    spec: BuildSpec,
    workspace: Path,
    log: LogSink,
) -> None:
    ref = _cache_ref(project, document)
    if ref is None or not spec.cache_paths:
        return
    store.ensure_bucket(ref.bucket)
    with tempfile.TemporaryDirectory(prefix="stageline-cache-") as tmp:
        archive = Path(tmp) / "cache.tgz"
        count = pack_cache(
            workspace / "src",
            _home(workspace),
            spec.cache_paths,
            archive,
            on_skip=lambda line: say(log, line),
        )
        store.put_file(ref.bucket, ref.key, archive)
    say(log, f"Saved {count} files to the cache at s3://{ref.bucket}/{ref.key}")
