"""FolderStore: the embedded mode's object store on the local file system."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import pytest

from stageline.artifacts.base import ObjectNotFound, ObjectStore
from stageline.artifacts.factory import object_store
from stageline.artifacts.folder import FolderStore
from stageline.artifacts.s3 import S3Store
from stageline.settings import Settings


@pytest.fixture
def store(tmp_path: Path) -> FolderStore:
    store = FolderStore(tmp_path / "store")
    store.ensure_bucket("bucket")
    return store


def test_is_an_object_store(store: FolderStore) -> None:
    typed: ObjectStore = store
    assert typed is store


def test_round_trip_file(store: FolderStore, tmp_path: Path) -> None:
    src = tmp_path / "src.bin"
    src.write_bytes(b"hello artifacts")
    put = store.put_file("bucket", "a/b/c.zip", src)
    assert put.etag == hashlib.md5(b"hello artifacts").hexdigest()
    assert (put.bucket, put.key, put.size, put.version_id) == ("bucket", "a/b/c.zip", 15, None)
    assert put.last_modified.tzinfo is not None

    dest = tmp_path / "out" / "deep" / "c.zip"
    got = store.get_file("bucket", "a/b/c.zip", dest)
    assert dest.read_bytes() == b"hello artifacts"
    assert got == store.head("bucket", "a/b/c.zip")
    assert got.etag == put.etag
    assert got.size == 15
    assert store.get_file("bucket", "a/b/c.zip", dest, version_id="null").etag == put.etag


def test_put_bytes_and_nested_keys_are_nested_paths(store: FolderStore) -> None:
    store.put_bytes("bucket", "x/y/z.txt", b"1")
    store.put_bytes("bucket", "x/top.txt", b"22")
    assert (store.root / "bucket" / "x" / "y" / "z.txt").read_bytes() == b"1"
    assert store.head("bucket", "x/top.txt").size == 2


def test_overwrite_replaces_atomically(store: FolderStore, tmp_path: Path) -> None:
    old, new = b"a" * 300_000, b"b" * 500_000
    store.put_bytes("bucket", "k", old)
    stop = threading.Event()
    seen: set[bytes] = set()

    def reader() -> None:
        while not stop.is_set():
            data = (store.root / "bucket" / "k").read_bytes()
            seen.add(data[:1] + data[-1:] + str(len(data)).encode())

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for i in range(30):
            store.put_bytes("bucket", "k", new if i % 2 == 0 else old)
    finally:
        stop.set()
        thread.join()
    # Every read saw one whole version, never a mix or a prefix.
    assert seen <= {b"aa300000", b"bb500000"}
    assert store.head("bucket", "k").etag == hashlib.md5(old).hexdigest()
    assert not any((store.root / ".tmp").iterdir())  # no temp file left behind


@pytest.mark.parametrize(
    "key",
    ["../escape", "a/../../escape", "/etc/passwd", "a/./b", "a//b", "a/", "", "nul\x00byte", ".."],
)
def test_keys_that_could_escape_are_rejected(store: FolderStore, key: str) -> None:
    with pytest.raises(ValueError):
        store.put_bytes("bucket", key, b"x")
    with pytest.raises(ValueError):
        store.head("bucket", key)
    assert not (store.root.parent / "escape").exists()


@pytest.mark.parametrize("bucket", ["..", ".meta", ".tmp", "a/b", "/abs", "", "x\x00y", "../up"])
def test_bad_bucket_names_are_rejected(store: FolderStore, bucket: str) -> None:
    with pytest.raises(ValueError):
        store.ensure_bucket(bucket)
    with pytest.raises(ValueError):
        store.put_bytes(bucket, "k", b"x")


def test_missing_objects_and_buckets(store: FolderStore, tmp_path: Path) -> None:
    with pytest.raises(ObjectNotFound):
        store.head("bucket", "nope")
    with pytest.raises(ObjectNotFound):
        store.get_file("bucket", "nope", tmp_path / "out")
    with pytest.raises(ObjectNotFound):
        store.head("no-bucket", "k")
    with pytest.raises(ObjectNotFound):
        store.put_bytes("no-bucket", "k", b"x")  # like S3's NoSuchBucket
    with pytest.raises(ObjectNotFound):
        store.list_keys("no-bucket")
    store.put_bytes("bucket", "dir/file", b"x")
    with pytest.raises(ObjectNotFound):
        store.head("bucket", "dir")  # a "directory" is not an object
    with pytest.raises(ObjectNotFound):
        store.head("bucket", "dir/file/deeper")
    with pytest.raises(ObjectNotFound):
        store.get_file("bucket", "dir/file", tmp_path / "out", version_id="v1")
    assert not (tmp_path / "out").exists()


def test_key_that_is_both_object_and_prefix_is_refused(store: FolderStore) -> None:
    store.put_bytes("bucket", "a", b"x")
    with pytest.raises(ValueError, match="conflicts"):
        store.put_bytes("bucket", "a/b", b"y")
    store.put_bytes("bucket", "c/d", b"y")
    with pytest.raises(ValueError, match="conflicts"):
        store.put_bytes("bucket", "c", b"x")
    assert store.list_keys("bucket") == ["a", "c/d"]


def test_list_keys(store: FolderStore) -> None:
    for key in ["b.txt", "a/1", "a/2/x", "ab", "a/2/y", ".hidden"]:
        store.put_bytes("bucket", key, b"")
    assert store.list_keys("bucket") == [".hidden", "a/1", "a/2/x", "a/2/y", "ab", "b.txt"]
    assert store.list_keys("bucket", "a") == ["a/1", "a/2/x", "a/2/y", "ab"]
    assert store.list_keys("bucket", "a/") == ["a/1", "a/2/x", "a/2/y"]
    assert store.list_keys("bucket", "a/2/") == ["a/2/x", "a/2/y"]
    assert store.list_keys("bucket", "a/2/x") == ["a/2/x"]
    assert store.list_keys("bucket", "zzz/") == []
    store.ensure_bucket("empty")
    assert store.list_keys("empty") == []


def test_ensure_bucket_is_idempotent_and_keeps_objects(store: FolderStore) -> None:
    store.put_bytes("bucket", "k", b"x")
    store.ensure_bucket("bucket")
    assert store.list_keys("bucket") == ["k"]


def test_headers_kept_in_sidecar(store: FolderStore, tmp_path: Path) -> None:
    src = tmp_path / "index.html"
    src.write_text("<html></html>")
    headers = {"ContentType": "text/html", "CacheControl": "max-age=60", "ACL": "public-read"}
    store.put_file("bucket", "site/index.html", src, headers=headers)
    assert store.metadata("bucket", "site/index.html") == {
        "ContentType": "text/html",
        "CacheControl": "max-age=60",
    }
    assert store.list_keys("bucket") == ["site/index.html"]  # the sidecar is not a key
    store.put_file("bucket", "site/index.html", src)
    assert store.metadata("bucket", "site/index.html") == {}
    with pytest.raises(ValueError, match="unsupported"):
        store.put_file("bucket", "k", src, headers={"ContentEncoding": "gzip"})


def test_files_are_readable_by_others(store: FolderStore) -> None:
    store.put_bytes("bucket", "k", b"x")
    assert os.stat(store.root / "bucket" / "k").st_mode & 0o777 == 0o644


def test_factory_picks_the_configured_store(tmp_path: Path) -> None:
    folder = object_store(Settings(data_dir=tmp_path, artifact_store="folder"))
    assert isinstance(folder, FolderStore)
    assert folder.root == tmp_path / "artifacts"
    assert isinstance(object_store(Settings(data_dir=tmp_path, artifact_store="s3")), S3Store)
