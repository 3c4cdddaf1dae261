"""The object store protocol: buckets and keys, on S3 or in a local folder.

Artifacts between actions, S3 source objects and S3 deploy targets all go through it, so the
embedded folder mode and production S3 run the same action code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol


class ObjectNotFound(Exception):
    """The bucket or key does not exist (or that version does not)."""


@dataclass(frozen=True)
class ObjectRef:
    bucket: str
    key: str


@dataclass(frozen=True)
class ObjectInfo:
    bucket: str
    key: str
    etag: str  # without quotes
    version_id: str | None  # None when the bucket is not versioned
    size: int
    last_modified: datetime


class ObjectStore(Protocol):
    def ensure_bucket(self, bucket: str) -> None: ...

    def put_file(
        self, bucket: str, key: str, path: Path, *, headers: Mapping[str, str] | None = None
    ) -> ObjectInfo:
        """Upload a file. headers: ContentType, CacheControl, ACL (S3's canned ACL names)."""
        ...

    def put_bytes(self, bucket: str, key: str, data: bytes) -> ObjectInfo: ...

    def get_file(
        self, bucket: str, key: str, dest: Path, *, version_id: str | None = None
    ) -> ObjectInfo: ...

    def head(self, bucket: str, key: str) -> ObjectInfo: ...
