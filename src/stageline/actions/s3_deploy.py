"""Deploy / AWS / S3 / 1: put the input artifact into a bucket, extracted or as its zip.

Follows "Amazon S3 deploy action reference": BucketName and Extract are required; ObjectKey
is the object's key when Extract is false (then required) and a key prefix when it is true;
CannedACL and CacheControl apply to every uploaded object. KMSEncryptionKeyARN is accepted and
ignored: encryption at rest is the object store's configuration here.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from stageline.actions.base import ActionContext, Outcome, Succeeded
from stageline.actions.workspace import (
    ActionError,
    download_artifact,
    download_inputs,
    files,
    s3_url,
)
from stageline.artifacts.base import ObjectNotFound

# S3's canned ACL names ("Access control list (ACL) overview" > "Canned ACL").
CANNED_ACLS = frozenset(
    {
        "private",
        "public-read",
        "public-read-write",
        "aws-exec-read",
        "authenticated-read",
        "bucket-owner-read",
        "bucket-owner-full-control",
        "log-delivery-write",
    }
)


@dataclass(frozen=True)
class DeployConfig:
    bucket: str
    extract: bool
    object_key: str  # the key (Extract false) or a prefix without slashes at its ends
    headers: Mapping[str, str]


class S3DeployProvider:
    def run(self, ctx: ActionContext) -> Outcome:
        try:
            config = _parse(ctx)
            if len(ctx.inputs) != 1:
                raise ActionError("The S3 deploy action needs exactly one input artifact")
            if config.extract:
                return _deploy_extracted(ctx, config)
            return _deploy_zip(ctx, config)
        except ActionError as exc:
            return exc.outcome()


def _parse(ctx: ActionContext) -> DeployConfig:
    conf = ctx.configuration
    bucket = conf.get("BucketName", "").strip()
    if not bucket:
        raise _config_error("Configuration property BucketName is required")
    extract = conf.get("Extract", "").strip().lower()
    if extract not in ("true", "false"):
        raise _config_error(f"Extract must be true or false, not {conf.get('Extract')!r}")
    key = conf.get("ObjectKey", "").strip()
    if extract == "false" and not key:
        raise _config_error("ObjectKey is required when Extract is false")
    headers: dict[str, str] = {}
    if acl := conf.get("CannedACL", "").strip():
        if acl not in CANNED_ACLS:
            raise _config_error(f"CannedACL {acl} is not one of {', '.join(sorted(CANNED_ACLS))}")
        headers["ACL"] = acl
    if cache_control := conf.get("CacheControl", "").strip():
        headers["CacheControl"] = cache_control
    if conf.get("KMSEncryptionKeyARN"):
        ctx.log.write(
            "[Stageline] KMSEncryptionKeyARN is ignored: the object store's own encryption "
            "settings apply\n"
        )
    object_key = key.strip("/") if extract == "true" else key
    return DeployConfig(bucket, extract == "true", object_key, headers)


def _config_error(message: str) -> ActionError:
    return ActionError(message, "ConfigurationError")


def _deploy_zip(ctx: ActionContext, config: DeployConfig) -> Succeeded:
    archive = download_artifact(ctx, ctx.inputs[0])
    try:
        headers = {**config.headers, "ContentType": "application/zip"}
        _put(ctx, config.bucket, config.object_key, archive, headers)
    finally:
        archive.unlink(missing_ok=True)
    return Succeeded(summary=f"Deployed 1 file to {s3_url(config.bucket, config.object_key)}")


def _deploy_extracted(ctx: ActionContext, config: DeployConfig) -> Succeeded:
    root = next(iter(download_inputs(ctx).values()))
    count = 0
    for path, relative in _regular_files(root):
        if ctx.cancelled():
            raise ActionError(f"Stopped after {count} files: the action execution was cancelled")
        key = f"{config.object_key}/{relative}" if config.object_key else relative
        content_type = mimetypes.guess_type(relative)[0] or "application/octet-stream"
        _put(ctx, config.bucket, key, path, {**config.headers, "ContentType": content_type})
        count += 1
    if count == 0:
        raise ActionError(f"Input artifact {ctx.inputs[0].name} holds no files to deploy")
    prefix = f"{config.object_key}/" if config.object_key else ""
    return Succeeded(summary=f"Deployed {files(count)} to {s3_url(config.bucket, prefix)}")


def _regular_files(root: Path) -> Iterator[tuple[Path, str]]:
    """Regular files under root with their slash-separated relative paths, in a stable order."""
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            yield path, path.relative_to(root).as_posix()


def _put(ctx: ActionContext, bucket: str, key: str, path: Path, headers: Mapping[str, str]) -> None:
    try:
        ctx.store.put_file(bucket, key, path, headers=headers)
    except ObjectNotFound:
        raise ActionError(f"The deployment bucket {bucket} does not exist") from None
    except ValueError as exc:  # a key or bucket name the store refuses
        raise ActionError(f"Cannot upload {s3_url(bucket, key)}: {exc}") from None
    ctx.log.write(f"[Stageline] Uploaded {s3_url(bucket, key)}\n")
