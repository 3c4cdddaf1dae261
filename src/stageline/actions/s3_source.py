"""Source / AWS / S3 / 1: the object at S3Bucket/S3ObjectKey becomes the output artifact.

Follows "Amazon S3 source action reference": the object (normally a zip) is the artifact as
is; its version id (or, on an unversioned bucket, its ETag) is the source revision; the
output variables are ETag, VersionId, BucketName and ObjectKey. PollForSourceChanges concerns
triggers, not this run.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from stageline.actions.base import ActionContext, Outcome, SourceRevision, Succeeded
from stageline.actions.workspace import ActionError, required, s3_url, scratch
from stageline.artifacts.base import ObjectInfo, ObjectNotFound


class S3SourceProvider:
    def run(self, ctx: ActionContext) -> Outcome:
        try:
            return self._run(ctx)
        except ActionError as exc:
            return exc.outcome()

    def _run(self, ctx: ActionContext) -> Succeeded:
        bucket = required(ctx.configuration, "S3Bucket")
        key = _object_key(ctx)
        if len(ctx.outputs) != 1:
            raise ActionError("The S3 source action needs exactly one output artifact")
        pinned = _pinned_revision(ctx.continuation)
        local = scratch(ctx) / "source-object"
        info = _fetch(ctx, bucket, key, pinned, local)
        output = ctx.outputs[0]
        ctx.log.write(
            f"[Stageline] Copying {s3_url(bucket, key)} ({_revision(info)}) "
            f"to output artifact {output.name}\n"
        )
        try:
            ctx.store.put_file(output.location.bucket, output.location.key, local)
        except ObjectNotFound:
            raise ActionError(
                f"The artifact store bucket {output.location.bucket} does not exist"
            ) from None
        finally:
            local.unlink(missing_ok=True)
        variables = {"ETag": info.etag, "BucketName": bucket, "ObjectKey": key}
        if info.version_id is not None:
            variables["VersionId"] = info.version_id
        revision = SourceRevision(
            revision_id=_revision(info), change_id=info.etag, created=info.last_modified
        )
        return Succeeded(
            summary=(
                f"Amazon S3 version id: {info.version_id}"
                if info.version_id is not None
                else f"Amazon S3 ETag: {info.etag} (unversioned bucket)"
            ),
            output_variables=variables,
            revision=revision,
        )


def _object_key(ctx: ActionContext) -> str:
    """S3ObjectKey, or the key a source revision override asked for (S3_OBJECT_KEY)."""
    key = required(ctx.configuration, "S3ObjectKey")
    override = (ctx.continuation or {}).get("objectKey")
    if override is None:
        return key
    if ctx.configuration.get("AllowOverrideForS3ObjectKey", "").lower() != "true":
        raise ActionError(
            "The S3 object key cannot be overridden: AllowOverrideForS3ObjectKey is not true",
            "ConfigurationError",
        )
    return str(override)


def _pinned_revision(continuation: Mapping[str, Any] | None) -> str | None:
    value = (continuation or {}).get("revisionId")
    return str(value) if value else None


def _revision(info: ObjectInfo) -> str:
    return info.version_id if info.version_id is not None else info.etag


def _fetch(ctx: ActionContext, bucket: str, key: str, pinned: str | None, dest: Path) -> ObjectInfo:
    """Download the current object, or the pinned revision of it."""
    where = s3_url(bucket, key)
    try:
        if pinned is not None and ctx.store.head(bucket, key).version_id is not None:
            return _fetch_version(ctx, bucket, key, pinned, dest)
        info = ctx.store.get_file(bucket, key, dest)
    except ObjectNotFound:
        raise ActionError(
            f"The object {where} was not found: check that bucket {bucket} exists and "
            f"holds key {key}"
        ) from None
    except ValueError as exc:  # a bucket name or key the store refuses
        raise ActionError(f"Cannot read {where}: {exc}", "ConfigurationError") from None
    if pinned is not None and info.etag != pinned:
        # Unversioned bucket: the revision is an ETag, and only the current object has one.
        raise ActionError(
            f"Revision {pinned} of {where} is no longer available: the bucket is not "
            f"versioned and the object's ETag is now {info.etag}",
            "RevisionUnavailable",
        )
    return info


def _fetch_version(
    ctx: ActionContext, bucket: str, key: str, version_id: str, dest: Path
) -> ObjectInfo:
    try:
        return ctx.store.get_file(bucket, key, dest, version_id=version_id)
    except ObjectNotFound:
        raise ActionError(
            f"Version {version_id} of {s3_url(bucket, key)} was not found",
            "RevisionUnavailable",
        ) from None
