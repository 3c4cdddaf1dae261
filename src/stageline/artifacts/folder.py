"""An ObjectStore in a local folder: the embedded mode's stand-in for S3.

Layout under the root directory::

    <root>/<bucket>/<key>           the object; '/' in a key makes nested directories
    <root>/.meta/<bucket>/<key>     sidecar JSON with the ContentType/CacheControl it was put with
                                    (absent when the object was put without those headers)
    <root>/.tmp/                    temp files, renamed into place with os.replace

Bucket names never start with '.', so the hidden directories cannot collide with a bucket.
The sidecar tree mirrors the object tree, so it cannot hold a conflict the object tree lacks.

Behaviour, kept as close to S3 as a file system allows:

- Writes are atomic: a reader sees the old object or the new one, never half of either.
- etag is the md5 hex digest of the content (S3's etag for a single-part upload), computed
  when the object is read; version_id is always None (no versioning). get_file accepts
  version_id None or "null" (S3's id for an unversioned object); any other id is not found.
- A missing bucket or key raises ObjectNotFound, for reads and writes alike (S3's
  NoSuchBucket on put).
- Unlike S3, a key cannot be both an object and a "directory" of other keys: putting "a/b"
  when "a" exists (or "a" when "a/b" exists) raises ValueError. Keys must be relative paths
  without empty, '.' or '..' segments, NUL, or a trailing '/'.
- Headers: ContentType and CacheControl are kept in the sidecar (see `metadata`); ACL is
  accepted and ignored (a folder has no ACLs); any other name raises ValueError, as S3Store does.
  The sidecar is written just after the object, so two writers racing on one key may briefly
  leave one's headers beside the other's content.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import os
import re
import stat
import tempfile
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from stageline.artifacts.base import ObjectInfo, ObjectNotFound

SUPPORTED_HEADERS = frozenset({"ACL", "CacheControl", "ContentType"})
KEPT_HEADERS = ("CacheControl", "ContentType")
MAX_KEY_BYTES = 1024
_BUCKET_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,254}")
_CHUNK = 1024 * 1024
_META_DIR = ".meta"
_TMP_DIR = ".tmp"


class FolderStore:
    """Buckets as directories under `root`; see the module docstring for the layout."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    # -- the ObjectStore protocol -------------------------------------------------------------

    def ensure_bucket(self, bucket: str) -> None:
        self._bucket_dir(bucket).mkdir(parents=True, exist_ok=True)

    def put_file(
        self, bucket: str, key: str, path: Path, *, headers: Mapping[str, str] | None = None
    ) -> ObjectInfo:
        kept = _kept_headers(headers)
        with open(path, "rb") as src:
            info = self._write(bucket, key, src)
        self._write_metadata(bucket, key, kept)
        return info

    def put_bytes(self, bucket: str, key: str, data: bytes) -> ObjectInfo:
        info = self._write(bucket, key, io.BytesIO(data))
        self._write_metadata(bucket, key, {})
        return info

    def get_file(
        self, bucket: str, key: str, dest: Path, *, version_id: str | None = None
    ) -> ObjectInfo:
        if version_id not in (None, "null"):
            raise ObjectNotFound(f"{bucket}/{key} has no version {version_id!r}")
        dest = Path(dest)
        with self._open(bucket, key) as src:
            dest.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
            try:
                with os.fdopen(fd, "wb") as out:
                    digest = _copy(src, out)
                os.replace(tmp, dest)
            except BaseException:
                _unlink(Path(tmp))
                raise
            return self._info(bucket, key, os.fstat(src.fileno()), digest)

    def head(self, bucket: str, key: str) -> ObjectInfo:
        with self._open(bucket, key) as src:
            digest = hashlib.md5(usedforsecurity=False)
            while chunk := src.read(_CHUNK):
                digest.update(chunk)
            return self._info(bucket, key, os.fstat(src.fileno()), digest.hexdigest())

    # -- extras ------------------------------------------------------------------------------

    def list_keys(self, bucket: str, prefix: str = "") -> list[str]:
        """Every key in `bucket` starting with `prefix` (a string prefix, as in S3), sorted."""
        bucket_dir = self._bucket_dir(bucket)
        if not bucket_dir.is_dir():
            raise ObjectNotFound(f"no bucket {bucket!r}")
        # Walk only the deepest directory the prefix names; filter the rest by string prefix.
        start_parts = [p for p in prefix.split("/")[:-1] if p not in ("", ".", "..")]
        start = bucket_dir.joinpath(*start_parts)
        keys = [key for key in _walk_keys(bucket_dir, start) if key.startswith(prefix)]
        return sorted(keys)

    def metadata(self, bucket: str, key: str) -> dict[str, str]:
        """The ContentType/CacheControl the object was put with ({} when none)."""
        self._object_path(bucket, key)  # validates
        try:
            raw = self._meta_path(bucket, key).read_text()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return {}
        data = json.loads(raw)
        return {k: str(v) for k, v in data.items() if k in KEPT_HEADERS}

    # -- internals ---------------------------------------------------------------------------

    def _bucket_dir(self, bucket: str) -> Path:
        if not isinstance(bucket, str) or not _BUCKET_RE.fullmatch(bucket):
            raise ValueError(f"invalid bucket name {bucket!r}")
        return self.root / bucket

    def _object_path(self, bucket: str, key: str) -> Path:
        return self._bucket_dir(bucket).joinpath(*_key_parts(key))

    def _meta_path(self, bucket: str, key: str) -> Path:
        self._bucket_dir(bucket)
        return self.root.joinpath(_META_DIR, bucket, *_key_parts(key))

    @contextlib.contextmanager
    def _open(self, bucket: str, key: str) -> Iterator[BinaryIO]:
        path = self._object_path(bucket, key)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as exc:
            raise ObjectNotFound(f"no object {bucket}/{key}") from exc
        except OSError as exc:
            if exc.errno != errno.ELOOP:  # ELOOP: a symlink, which is never an object here
                raise
            raise ObjectNotFound(f"no object {bucket}/{key}") from exc
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # a "directory" of other keys
            os.close(fd)
            raise ObjectNotFound(f"no object {bucket}/{key}")
        with os.fdopen(fd, "rb") as src:
            yield src

    def _write(self, bucket: str, key: str, src: BinaryIO) -> ObjectInfo:
        target = self._object_path(bucket, key)
        bucket_dir = self._bucket_dir(bucket)
        if not bucket_dir.is_dir():
            raise ObjectNotFound(f"no bucket {bucket!r}")
        tmp_dir = self.root / _TMP_DIR
        tmp_dir.mkdir(exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=tmp_dir, prefix="put-")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                os.fchmod(out.fileno(), 0o644)
                digest = _copy(src, out)
                out.flush()
                os.fsync(out.fileno())
                st = os.fstat(out.fileno())
            _make_parents(bucket_dir, target, key)
            try:
                os.replace(tmp, target)
            except (IsADirectoryError, NotADirectoryError) as exc:
                raise ValueError(f"key {key!r} conflicts with another key's path") from exc
        except BaseException:
            _unlink(tmp)
            raise
        return self._info(bucket, key, st, digest)

    def _write_metadata(self, bucket: str, key: str, kept: dict[str, str]) -> None:
        meta = self._meta_path(bucket, key)
        if not kept:
            _unlink(meta)
            return
        meta_root = self.root / _META_DIR / bucket
        meta_root.mkdir(parents=True, exist_ok=True)
        _make_parents(meta_root, meta, key)
        tmp_dir = self.root / _TMP_DIR
        fd, tmp = tempfile.mkstemp(dir=tmp_dir, prefix="meta-")
        try:
            with os.fdopen(fd, "w") as out:
                json.dump(kept, out, sort_keys=True)
            os.replace(tmp, meta)
        except BaseException:
            _unlink(Path(tmp))
            raise

    @staticmethod
    def _info(bucket: str, key: str, st: os.stat_result, etag: str) -> ObjectInfo:
        return ObjectInfo(
            bucket=bucket,
            key=key,
            etag=etag,
            version_id=None,
            size=st.st_size,
            last_modified=datetime.fromtimestamp(st.st_mtime, tz=UTC),
        )


def _key_parts(key: str) -> list[str]:
    """The path segments of `key`; ValueError for keys that could escape their bucket."""
    if not isinstance(key, str) or not key:
        raise ValueError("object key must be a non-empty string")
    if len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        raise ValueError(f"object key longer than {MAX_KEY_BYTES} bytes")
    if "\x00" in key:
        raise ValueError(f"object key {key!r} contains NUL")
    if key.startswith("/"):
        raise ValueError(f"object key {key!r} is absolute")
    parts = key.split("/")
    for part in parts:
        if part in ("", ".", ".."):
            raise ValueError(f"object key {key!r} has an empty, '.' or '..' segment")
    return parts


def _kept_headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    headers = headers or {}
    unknown = set(headers) - SUPPORTED_HEADERS
    if unknown:
        raise ValueError(f"unsupported object headers: {', '.join(sorted(unknown))}")
    return {name: headers[name] for name in KEPT_HEADERS if name in headers}


def _make_parents(base: Path, target: Path, key: str) -> None:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as exc:
        raise ValueError(f"key {key!r} conflicts with another key's path") from exc
    if not target.parent.resolve().is_relative_to(base.resolve()):
        raise ValueError(f"key {key!r} resolves outside its bucket")


def _copy(src: BinaryIO, out: BinaryIO) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    while chunk := src.read(_CHUNK):
        digest.update(chunk)
        out.write(chunk)
    return digest.hexdigest()


def _walk_keys(bucket_dir: Path, start: Path) -> Iterator[str]:
    if not start.is_dir() or start.is_symlink():
        return
    for dirpath, dirnames, filenames in os.walk(start):
        dirnames[:] = [d for d in dirnames if not os.path.islink(os.path.join(dirpath, d))]
        rel = Path(dirpath).relative_to(bucket_dir)
        for name in filenames:
            if stat.S_ISREG(os.lstat(os.path.join(dirpath, name)).st_mode):
                yield (rel / name).as_posix() if rel.parts else name


def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError, NotADirectoryError, IsADirectoryError):
        path.unlink()
