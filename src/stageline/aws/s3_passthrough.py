"""The artifact endpoint over S3Store: the backing S3 does the work (ranged reads, multipart
uploads), so an upload begun through one API replica may continue through another. Its errors
pass through in S3's own terms."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from stageline.artifacts.base import ObjectStore
from stageline.aws import s3_wire as wire
from stageline.aws.s3_backends import (
    DEFAULT_TYPE,
    ByteRange,
    Download,
    ObjectMeta,
    put_through,
    resolve_range,
)

_CHUNK = 1024 * 1024


class S3Backend:
    def __init__(self, store: ObjectStore, client: Any) -> None:
        self.store = store
        self.client = client

    def head(self, bucket: str, key: str) -> ObjectMeta:
        with _passthrough(not_found=wire.no_such_key):
            response = self.client.head_object(Bucket=bucket, Key=key)
        return _s3_meta(response, int(response["ContentLength"]))

    def get(self, bucket: str, key: str, byte_range: ByteRange | None) -> Download:
        meta = self.head(bucket, key)
        start, end, partial = resolve_range(byte_range, meta.size)
        if end < start:
            return Download(meta, start, end, partial, iter(()))
        ranged = {"Range": f"bytes={start}-{end}"} if partial else {}
        with _passthrough(not_found=wire.no_such_key):
            response = self.client.get_object(
                Bucket=bucket, Key=key, IfMatch=f'"{meta.etag}"', **ranged
            )
        body = response["Body"]

        def chunks() -> Iterator[bytes]:
            try:
                yield from body.iter_chunks(_CHUNK)
            finally:
                body.close()

        return Download(meta, start, end, partial, chunks())

    def put(self, bucket: str, key: str, path: Path, content_type: str | None) -> str:
        return put_through(self.store, bucket, key, path, content_type)

    def create_upload(self, bucket: str, key: str, content_type: str | None) -> str:
        extra = {"ContentType": content_type} if content_type else {}
        with _passthrough(not_found=wire.no_such_bucket):
            response = self.client.create_multipart_upload(
                Bucket=bucket, Key=key, ChecksumAlgorithm="CRC32", **extra
            )
        return str(response["UploadId"])

    def upload_part(self, bucket: str, key: str, upload: str, number: int, path: Path) -> str:
        with open(path, "rb") as body, _passthrough(not_found=wire.no_such_upload):
            response = self.client.upload_part(
                Bucket=bucket, Key=key, UploadId=upload, PartNumber=number, Body=body,
                ChecksumAlgorithm="CRC32",
            )  # fmt: skip
        return str(response["ETag"]).strip('"')

    def complete(self, bucket: str, key: str, upload: str, parts: list[tuple[int, str]]) -> str:
        # The upload was begun with CRC32, so completing names each part's: ask the backend.
        with _passthrough(not_found=wire.no_such_upload):
            listed: dict[int, str] = {}
            pages = self.client.get_paginator("list_parts")
            for page in pages.paginate(Bucket=bucket, Key=key, UploadId=upload):
                for part in page.get("Parts", []):
                    listed[int(part["PartNumber"])] = str(part.get("ChecksumCRC32") or "")
            wanted = []
            for number, etag in parts:
                entry = {"PartNumber": number, "ETag": f'"{etag}"'}
                if listed.get(number):
                    entry["ChecksumCRC32"] = listed[number]
                wanted.append(entry)
            response = self.client.complete_multipart_upload(
                Bucket=bucket, Key=key, UploadId=upload, MultipartUpload={"Parts": wanted}
            )
        return str(response["ETag"]).strip('"')

    def abort(self, bucket: str, key: str, upload: str) -> None:
        with _passthrough(not_found=wire.no_such_upload):
            self.client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload)


def _s3_meta(response: dict[str, Any], size: int) -> ObjectMeta:
    return ObjectMeta(
        etag=str(response["ETag"]).strip('"'),
        size=size,
        last_modified=response["LastModified"],
        content_type=str(response.get("ContentType") or DEFAULT_TYPE),
    )


@contextlib.contextmanager
def _passthrough(*, not_found: Any) -> Iterator[None]:
    """The backing S3's error as our answer (a bare 404, as HEAD gives, as `not_found`)."""
    try:
        yield
    except ClientError as exc:
        error = exc.response.get("Error", {})
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 500)
        code = str(error.get("Code") or "")
        if status == 404 and (not code or code.isdigit() or code == "NotFound"):
            raise not_found() from exc
        if status == 412:
            raise wire.S3Error("PreconditionFailed", "The object changed while read.", 412) from exc
        if not code or code.isdigit():
            code = "InternalError" if status >= 500 else "InvalidRequest"
        message = str(error.get("Message") or code)
        raise wire.S3Error(code, message, status) from exc
