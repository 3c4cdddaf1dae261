"""S3Store against moto's S3 server running as a real subprocess, over HTTP."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from boto3.s3.transfer import TransferConfig
from tests.support.moto_server import moto_s3_server, s3_env

from stageline.artifacts.base import ObjectNotFound, ObjectStore
from stageline.artifacts.s3 import S3Store


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    with moto_s3_server() as url:
        yield url


def client(url: str, region: str = "us-east-1") -> Any:
    return boto3.client(
        "s3",
        endpoint_url=url,
        region_name=region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture
def s3(moto_url: str) -> Any:
    return client(moto_url)


@pytest.fixture
def store(s3: Any) -> S3Store:
    return S3Store(s3)


@pytest.fixture
def bucket(store: S3Store) -> str:
    name = f"artifacts-{uuid.uuid4().hex[:12]}"
    store.ensure_bucket(name)
    return name


def test_is_an_object_store(store: S3Store) -> None:
    typed: ObjectStore = store
    assert typed is store


def test_round_trip(store: S3Store, bucket: str, tmp_path: Path) -> None:
    src = tmp_path / "in.zip"
    src.write_bytes(b"zip bytes" * 100)
    put = store.put_file(bucket, "pipe/SourceArti/abc.zip", src)
    assert put.etag == hashlib.md5(src.read_bytes()).hexdigest()
    assert (put.size, put.version_id) == (900, None)

    dest = tmp_path / "out" / "abc.zip"
    got = store.get_file(bucket, "pipe/SourceArti/abc.zip", dest)
    assert dest.read_bytes() == src.read_bytes()
    assert got.etag == put.etag
    assert got.size == 900
    assert got.last_modified == put.last_modified
    assert store.head(bucket, "pipe/SourceArti/abc.zip") == got
    assert [p.name for p in dest.parent.iterdir()] == ["abc.zip"]  # no temp file left

    info = store.put_bytes(bucket, "raw", b"abc")
    assert info.etag == hashlib.md5(b"abc").hexdigest()
    assert info.size == 3


def test_default_client_follows_boto3_environment(
    moto_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    for name, value in s3_env(moto_url).items():
        monkeypatch.setenv(name, value)
    store = S3Store()
    name = f"env-{uuid.uuid4().hex[:12]}"
    store.ensure_bucket(name)
    store.put_bytes(name, "k", b"v")
    assert client(moto_url).get_object(Bucket=name, Key="k")["Body"].read() == b"v"


def test_versioned_bucket(store: S3Store, s3: Any, bucket: str, tmp_path: Path) -> None:
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    first = store.put_bytes(bucket, "source.zip", b"one")
    src = tmp_path / "two"
    src.write_bytes(b"two")
    second = store.put_file(bucket, "source.zip", src)
    assert first.version_id and second.version_id
    assert first.version_id != second.version_id
    assert store.head(bucket, "source.zip").version_id == second.version_id

    dest = tmp_path / "got"
    old = store.get_file(bucket, "source.zip", dest, version_id=first.version_id)
    assert dest.read_bytes() == b"one"
    assert (old.version_id, old.etag) == (first.version_id, first.etag)
    latest = store.get_file(bucket, "source.zip", dest)
    assert dest.read_bytes() == b"two"
    assert latest.version_id == second.version_id
    with pytest.raises(ObjectNotFound):
        store.get_file(bucket, "source.zip", dest, version_id="not-a-version")


def test_multipart_upload_and_download(s3: Any, bucket: str, tmp_path: Path) -> None:
    mib = 1024 * 1024
    config = TransferConfig(multipart_threshold=5 * mib, multipart_chunksize=5 * mib)
    store = S3Store(s3, config=config)
    src = tmp_path / "big"
    src.write_bytes(bytes(range(256)) * (6 * mib // 256))
    put = store.put_file(bucket, "big", src)
    assert put.etag.endswith("-2")  # two parts: S3's multipart etag
    assert put.size == 6 * mib
    dest = tmp_path / "big.out"
    assert store.get_file(bucket, "big", dest).etag == put.etag
    assert dest.read_bytes() == src.read_bytes()


def test_not_found(store: S3Store, bucket: str, tmp_path: Path) -> None:
    with pytest.raises(ObjectNotFound):
        store.head(bucket, "missing")
    with pytest.raises(ObjectNotFound):
        store.get_file(bucket, "missing", tmp_path / "x")
    with pytest.raises(ObjectNotFound):
        store.head("no-such-bucket-here", "k")
    with pytest.raises(ObjectNotFound):
        store.put_bytes("no-such-bucket-here", "k", b"x")
    with pytest.raises(ObjectNotFound):
        store.list_keys("no-such-bucket-here")
    assert not (tmp_path / "x").exists()
    assert list(tmp_path.iterdir()) == []


def test_ensure_bucket_is_idempotent(store: S3Store, s3: Any) -> None:
    name = f"idem-{uuid.uuid4().hex[:12]}"
    store.ensure_bucket(name)
    store.put_bytes(name, "k", b"x")
    store.ensure_bucket(name)
    assert store.list_keys(name) == ["k"]


def test_ensure_bucket_outside_us_east_1(moto_url: str) -> None:
    eu = client(moto_url, "eu-west-1")
    store = S3Store(eu)
    name = f"eu-{uuid.uuid4().hex[:12]}"
    store.ensure_bucket(name)
    store.ensure_bucket(name)
    assert eu.get_bucket_location(Bucket=name)["LocationConstraint"] == "eu-west-1"


def test_headers_are_applied(store: S3Store, s3: Any, bucket: str, tmp_path: Path) -> None:
    src = tmp_path / "index.html"
    src.write_text("<html></html>")
    headers = {"ContentType": "text/html", "CacheControl": "max-age=60", "ACL": "public-read"}
    store.put_file(bucket, "site/index.html", src, headers=headers)
    head = s3.head_object(Bucket=bucket, Key="site/index.html")
    assert head["CacheControl"] == "max-age=60"
    assert head["ContentType"] == "text/html"
    grants = s3.get_object_acl(Bucket=bucket, Key="site/index.html")["Grants"]
    assert any(
        g["Grantee"].get("URI", "").endswith("/global/AllUsers") and g["Permission"] == "READ"
        for g in grants
    )
    with pytest.raises(ValueError, match="unsupported"):
        store.put_file(bucket, "k", src, headers={"Expires": "never"})


def test_list_keys(store: S3Store, bucket: str) -> None:
    for key in ["b.txt", "a/1", "a/2/x", "ab"]:
        store.put_bytes(bucket, key, b"")
    assert store.list_keys(bucket) == ["a/1", "a/2/x", "ab", "b.txt"]
    assert store.list_keys(bucket, "a/") == ["a/1", "a/2/x"]
    assert store.list_keys(bucket, "zzz") == []
