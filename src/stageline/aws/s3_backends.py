"""Where the artifact endpoint's objects live: the configured ObjectStore, read by range.

`backend_for(store, scratch)` picks one of two:

- `FolderBackend` (FolderStore, embedded mode): reads the object file in place (the store's
  documented `<root>/<bucket>/<key>` layout), ETags (MD5, as FolderStore's) cached per file
  identity so ranged reads do not rehash; multipart parts staged under `scratch/uploads/<id>`
  and joined by PutObject on completion.
- `S3Backend` (S3Store, `s3_passthrough.py`): ranged GetObject and multipart passed through to
  the backing S3, so an upload begun on one API replica may continue on another.

Writes go through `ObjectStore.put_file` in both.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import secrets
import shutil
import stat
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, Protocol

from stageline.artifacts.base import ObjectNotFound, ObjectStore
from stageline.artifacts.folder import FolderStore
from stageline.aws import s3_wire as wire

DEFAULT_TYPE = "binary/octet-stream"
MIN_PART_BYTES = 5 * 1024 * 1024  # S3's smallest part but the last
STALE_UPLOAD_SECONDS = 7 * 24 * 3600
_CHUNK = 1024 * 1024
_BUCKET_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,254}")
_UPLOAD_ID_RE = re.compile(r"[0-9a-f]{32}")
_RANGE_RE = re.compile(r"bytes=(\d*)-(\d*)")


@dataclass(frozen=True)
class ObjectMeta:
    etag: str  # without quotes
    size: int
    last_modified: datetime
    content_type: str


# A Range header's one range: (first, last) | (first, None) | (None, suffix length).
ByteRange = tuple[int | None, int | None]


@dataclass
class Download:
    meta: ObjectMeta
    start: int
    end: int  # inclusive; -1 for an empty object
    partial: bool  # answer 206 with Content-Range
    chunks: Iterator[bytes]  # exactly bytes start..end


def resolve_range(byte_range: ByteRange | None, size: int) -> tuple[int, int, bool]:
    """(start, end inclusive, partial) to serve; InvalidRange when the range misses the object."""
    if byte_range is None:
        return 0, size - 1, False
    first, last = byte_range
    if first is None:
        if not last or size == 0:
            raise _invalid_range()
        return max(size - last, 0), size - 1, True
    if first >= size:
        raise _invalid_range()
    return first, size - 1 if last is None else min(last, size - 1), True


def parse_range(header: str | None) -> ByteRange | None:
    """One `bytes=` range; anything else (several ranges, other units) means the whole object."""
    match = _RANGE_RE.fullmatch(header.strip()) if header else None
    if match is None or match.group(1) == match.group(2) == "":
        return None
    first = int(match.group(1)) if match.group(1) else None
    last = int(match.group(2)) if match.group(2) else None
    if first is not None and last is not None and last < first:
        return None  # S3 ignores a syntactically invalid range
    return first, last


def _invalid_range() -> wire.S3Error:
    return wire.S3Error("InvalidRange", "The requested range is not satisfiable", 416)


class Backend(Protocol):
    def head(self, bucket: str, key: str) -> ObjectMeta: ...

    def get(self, bucket: str, key: str, byte_range: ByteRange | None) -> Download: ...

    def put(self, bucket: str, key: str, path: Path, content_type: str | None) -> str: ...

    def create_upload(self, bucket: str, key: str, content_type: str | None) -> str: ...

    def upload_part(self, bucket: str, key: str, upload: str, number: int, path: Path) -> str: ...

    def complete(self, bucket: str, key: str, upload: str, parts: list[tuple[int, str]]) -> str: ...

    def abort(self, bucket: str, key: str, upload: str) -> None: ...


def backend_for(store: ObjectStore, scratch: Path) -> Backend:
    if isinstance(store, FolderStore):
        return FolderBackend(store, scratch)
    client = getattr(store, "client", None)
    if client is not None:  # S3Store
        from stageline.aws.s3_passthrough import S3Backend

        return S3Backend(store, client)
    raise TypeError(f"the artifact endpoint cannot serve a {type(store).__name__}")


def put_through(store: ObjectStore, bucket: str, key: str, path: Path, ctype: str | None) -> str:
    headers = {"ContentType": ctype} if ctype else None
    try:
        return store.put_file(bucket, key, path, headers=headers).etag
    except ObjectNotFound as exc:
        raise wire.no_such_bucket() from exc
    except ValueError as exc:
        raise wire.invalid_argument(str(exc)) from exc


class FolderBackend:
    def __init__(self, store: FolderStore, scratch: Path) -> None:
        self.store = store
        self.uploads = scratch / "uploads"
        self._etags: dict[tuple[int, int, int, int], str] = {}
        self._lock = threading.Lock()

    def head(self, bucket: str, key: str) -> ObjectMeta:
        with self._open(bucket, key) as src:
            return self._meta(bucket, key, src)

    def get(self, bucket: str, key: str, byte_range: ByteRange | None) -> Download:
        src = self._open(bucket, key)
        try:
            meta = self._meta(bucket, key, src)
            start, end, partial = resolve_range(byte_range, meta.size)
            src.seek(start)
        except BaseException:
            src.close()
            raise
        return Download(meta, start, end, partial, _read_file(src, end - start + 1))

    def put(self, bucket: str, key: str, path: Path, content_type: str | None) -> str:
        return put_through(self.store, bucket, key, path, content_type)

    def create_upload(self, bucket: str, key: str, content_type: str | None) -> str:
        self._object_path(bucket, key)  # validates
        if not (self.store.root / bucket).is_dir():
            raise wire.no_such_bucket()
        self._forget_stale()
        upload = secrets.token_hex(16)
        folder = self.uploads / upload
        folder.mkdir(parents=True)
        target = {"bucket": bucket, "key": key, "content_type": content_type}
        (folder / "upload.json").write_text(json.dumps(target))
        return upload

    def upload_part(self, bucket: str, key: str, upload: str, number: int, path: Path) -> str:
        folder = self._upload(bucket, key, upload)
        md5 = _md5_file(path)
        try:
            os.replace(path, folder / f"part-{number:05d}")
        except FileNotFoundError as exc:  # aborted or completed meanwhile
            raise wire.no_such_upload() from exc
        return md5

    def complete(self, bucket: str, key: str, upload: str, parts: list[tuple[int, str]]) -> str:
        folder = self._upload(bucket, key, upload)
        target = json.loads((folder / "upload.json").read_text())
        claimed = self.uploads / f".completing-{upload}"
        try:
            os.rename(folder, claimed)  # one completion wins
        except OSError as exc:
            raise wire.no_such_upload() from exc
        joined = self.uploads / f".joined-{upload}"
        try:
            _join_parts(claimed, parts, joined)
            etag = put_through(self.store, bucket, key, joined, target.get("content_type"))
        except BaseException:
            with contextlib.suppress(OSError):
                os.rename(claimed, folder)  # a bad part list leaves the upload to retry
            raise
        finally:
            joined.unlink(missing_ok=True)
        shutil.rmtree(claimed, ignore_errors=True)
        return etag

    def abort(self, bucket: str, key: str, upload: str) -> None:
        shutil.rmtree(self._upload(bucket, key, upload), ignore_errors=True)

    # -- internals ---------------------------------------------------------------------------

    def _object_path(self, bucket: str, key: str) -> Path:
        parts = key.split("/")
        if not _BUCKET_RE.fullmatch(bucket) or "\x00" in key:
            raise wire.invalid_argument("Invalid bucket name or key.")
        if any(part in ("", ".", "..") for part in parts):
            raise wire.no_such_key()  # FolderStore never stores such a key
        return self.store.root.joinpath(bucket, *parts)

    def _open(self, bucket: str, key: str) -> BinaryIO:
        path = self._object_path(bucket, key)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as exc:
            bucket_dir = self.store.root / bucket
            raise (wire.no_such_key() if bucket_dir.is_dir() else wire.no_such_bucket()) from exc
        except OSError as exc:
            if exc.errno != errno.ELOOP:
                raise
            raise wire.no_such_key() from exc
        src = os.fdopen(fd, "rb")
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            src.close()
            raise wire.no_such_key()
        return src

    def _meta(self, bucket: str, key: str, src: BinaryIO) -> ObjectMeta:
        st = os.fstat(src.fileno())
        identity = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        with self._lock:
            etag = self._etags.get(identity)
        if etag is None:
            etag = _md5_fd(src.fileno(), st.st_size)
            with self._lock:
                if len(self._etags) > 4096:
                    self._etags.clear()
                self._etags[identity] = etag
        content_type = self.store.metadata(bucket, key).get("ContentType", DEFAULT_TYPE)
        modified = datetime.fromtimestamp(st.st_mtime, tz=UTC)
        return ObjectMeta(etag, st.st_size, modified, content_type)

    def _upload(self, bucket: str, key: str, upload: str) -> Path:
        folder = self.uploads / upload
        try:
            if not _UPLOAD_ID_RE.fullmatch(upload):
                raise FileNotFoundError(upload)
            target = json.loads((folder / "upload.json").read_text())
        except (FileNotFoundError, NotADirectoryError, ValueError) as exc:
            raise wire.no_such_upload() from exc
        if (target.get("bucket"), target.get("key")) != (bucket, key):
            raise wire.no_such_upload()
        return folder

    def _forget_stale(self) -> None:
        cutoff = time.time() - STALE_UPLOAD_SECONDS
        with contextlib.suppress(FileNotFoundError):
            for entry in os.scandir(self.uploads):
                with contextlib.suppress(OSError):
                    if entry.stat(follow_symlinks=False).st_mtime < cutoff:
                        shutil.rmtree(entry.path, ignore_errors=True)


def _read_file(src: BinaryIO, length: int) -> Iterator[bytes]:
    with src:
        while length > 0:
            chunk = src.read(min(_CHUNK, length))
            if not chunk:
                return
            length -= len(chunk)
            yield chunk


def _md5_fd(fd: int, size: int) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    offset = 0
    while offset < size:
        chunk = os.pread(fd, _CHUNK, offset)
        if not chunk:
            break
        digest.update(chunk)
        offset += len(chunk)
    return digest.hexdigest()


def _md5_file(path: Path) -> str:
    with open(path, "rb") as src:
        return _md5_fd(src.fileno(), os.fstat(src.fileno()).st_size)


def _join_parts(folder: Path, parts: list[tuple[int, str]], joined: Path) -> None:
    """Concatenate the listed parts, checking S3's rules: ascending numbers, matching ETags,
    every part but the last at least 5 MiB."""
    numbers = [number for number, _ in parts]
    if numbers != sorted(set(numbers)):
        raise wire.S3Error(
            "InvalidPartOrder", "The list of parts was not in ascending order. The parts list "
            "must be specified in order by part number.", 400
        )  # fmt: skip
    with open(joined, "wb") as out:
        for index, (number, etag) in enumerate(parts):
            try:
                src = open(folder / f"part-{number:05d}", "rb")  # noqa: SIM115
            except FileNotFoundError as exc:
                raise _invalid_part() from exc
            with src:
                digest = hashlib.md5(usedforsecurity=False)
                size = 0
                while chunk := src.read(_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
            if digest.hexdigest() != etag.lower():
                raise _invalid_part()
            if size < MIN_PART_BYTES and index < len(parts) - 1:
                raise wire.S3Error(
                    "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed "
                    "object size.", 400
                )  # fmt: skip


def _invalid_part() -> wire.S3Error:
    return wire.S3Error(
        "InvalidPart", "One or more of the specified parts could not be found. The part may not "
        "have been uploaded, or the specified entity tag may not match the part's entity tag.", 400
    )  # fmt: skip
