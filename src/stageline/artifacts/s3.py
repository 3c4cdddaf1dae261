"""An ObjectStore on S3 or any S3-compatible server (MinIO, moto, ...).

`S3Store()` makes `boto3.client("s3")`, so boto3's standard configuration decides endpoint,
credentials and region: AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, the
shared config files, AWS_DEFAULT_REGION... (path-style addressing for a server that needs it:
`s3 =\\n  addressing_style = path` in the AWS config file; IP-address endpoints get it anyway).

- Files at most the multipart threshold go up in one PutObject, whose response gives the exact
  ETag and VersionId; larger files go through `upload_file` (multipart, parallel), followed by
  a HeadObject for the etag and version (exact unless another writer races on the same key).
  A HeadObject after a PutObject reads LastModified, which PutObject does not answer. Downloads use `download_file`, pinned to the version
  the HeadObject saw when the bucket is versioned.
- 404 / NoSuchKey / NoSuchBucket / NoSuchVersion raise ObjectNotFound (and so does an invalid
  version id passed to get_file).
- headers: ACL, CacheControl and ContentType, passed as ExtraArgs; any other name raises
  ValueError (FolderStore does the same).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from stageline.artifacts.base import ObjectInfo, ObjectNotFound

SUPPORTED_HEADERS = frozenset({"ACL", "CacheControl", "ContentType"})
_NOT_FOUND = frozenset({"404", "NoSuchKey", "NoSuchBucket", "NoSuchVersion", "NotFound"})


class S3Store:
    def __init__(self, client: Any | None = None, *, config: TransferConfig | None = None) -> None:
        self.client: Any = client if client is not None else boto3.client("s3")
        self.config = config or TransferConfig()

    # -- the ObjectStore protocol -------------------------------------------------------------

    def ensure_bucket(self, bucket: str) -> None:
        try:
            self.client.head_bucket(Bucket=bucket)
            return
        except ClientError as exc:
            if not _is_not_found(exc):
                raise
        region = self.client.meta.region_name or "us-east-1"
        kwargs: dict[str, Any] = {"Bucket": bucket}
        if region != "us-east-1":  # us-east-1 refuses an explicit LocationConstraint
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
        try:
            self.client.create_bucket(**kwargs)
        except ClientError as exc:
            code = _code(exc)
            if code == "BucketAlreadyOwnedByYou":
                return
            if code == "BucketAlreadyExists":
                # Lost a race with ourselves (us-east-1 and some servers answer this way)?
                try:
                    self.client.head_bucket(Bucket=bucket)
                except ClientError:
                    raise exc from None
                return
            raise

    def put_file(
        self, bucket: str, key: str, path: Path, *, headers: Mapping[str, str] | None = None
    ) -> ObjectInfo:
        extra = _extra_args(headers)
        with _translate(bucket, key):
            size = os.path.getsize(path)
            if size <= self.config.multipart_threshold:
                with open(path, "rb") as body:
                    response = self.client.put_object(Bucket=bucket, Key=key, Body=body, **extra)
                return self._put_info(bucket, key, size, response)
            self.client.upload_file(
                str(path), bucket, key, ExtraArgs=extra or None, Config=self.config
            )
        return self.head(bucket, key)

    def put_bytes(self, bucket: str, key: str, data: bytes) -> ObjectInfo:
        with _translate(bucket, key):
            response = self.client.put_object(Bucket=bucket, Key=key, Body=data)
        return self._put_info(bucket, key, len(data), response)

    def get_file(
        self, bucket: str, key: str, dest: Path, *, version_id: str | None = None
    ) -> ObjectInfo:
        info = self._head(bucket, key, version_id)
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
        os.close(fd)
        try:
            extra = {"VersionId": info.version_id} if info.version_id else None
            with _translate(bucket, key, version_id):
                self.client.download_file(bucket, key, tmp, ExtraArgs=extra, Config=self.config)
            os.replace(tmp, dest)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        return info

    def head(self, bucket: str, key: str) -> ObjectInfo:
        return self._head(bucket, key, None)

    # -- extras ------------------------------------------------------------------------------

    def list_keys(self, bucket: str, prefix: str = "") -> list[str]:
        """Every key in `bucket` starting with `prefix`, sorted."""
        keys: list[str] = []
        with _translate(bucket, prefix):
            for page in self.client.get_paginator("list_objects_v2").paginate(
                Bucket=bucket, Prefix=prefix
            ):
                keys.extend(item["Key"] for item in page.get("Contents", []))
        return sorted(keys)

    # -- internals ---------------------------------------------------------------------------

    def _head(self, bucket: str, key: str, version_id: str | None) -> ObjectInfo:
        kwargs: dict[str, Any] = {"Bucket": bucket, "Key": key}
        if version_id is not None:
            kwargs["VersionId"] = version_id
        with _translate(bucket, key, version_id):
            response = self.client.head_object(**kwargs)
        return ObjectInfo(
            bucket=bucket,
            key=key,
            etag=_unquote(response["ETag"]),
            version_id=response.get("VersionId"),
            size=int(response["ContentLength"]),
            last_modified=response["LastModified"],
        )

    def _put_info(
        self, bucket: str, key: str, size: int, response: Mapping[str, Any]
    ) -> ObjectInfo:
        """ObjectInfo from a PutObject response (exact etag and version) and our own size."""
        version_id: str | None = response.get("VersionId")
        try:
            last_modified = self._head(bucket, key, version_id).last_modified
        except ObjectNotFound:  # deleted already; the response's time is close enough
            last_modified = datetime.now(UTC)
        return ObjectInfo(
            bucket=bucket,
            key=key,
            etag=_unquote(response["ETag"]),
            version_id=version_id,
            size=size,
            last_modified=last_modified,
        )


def _extra_args(headers: Mapping[str, str] | None) -> dict[str, str]:
    headers = dict(headers or {})
    unknown = set(headers) - SUPPORTED_HEADERS
    if unknown:
        raise ValueError(f"unsupported object headers: {', '.join(sorted(unknown))}")
    return headers


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _is_not_found(exc: ClientError) -> bool:
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return _code(exc) in _NOT_FOUND or status == 404


@contextlib.contextmanager
def _translate(bucket: str, key: str, version_id: str | None = None) -> Iterator[None]:
    """Turn S3's not-found answers (and a malformed version id) into ObjectNotFound."""
    try:
        yield
    except ClientError as exc:
        if _is_not_found(exc) or (
            version_id is not None and _code(exc) in ("400", "InvalidArgument")
        ):
            where = f"{bucket}/{key}" + (f" version {version_id}" if version_id else "")
            raise ObjectNotFound(f"{where}: {_code(exc)}") from exc
        raise


def _unquote(etag: str) -> str:
    return etag.strip('"')
