"""Source / AWS / S3: the object becomes the output artifact, with its revision and variables."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from tests.support.moto_server import moto_s3_server

from stageline.actions.base import ActionContext, Failed, OutputArtifact, Succeeded
from stageline.actions.s3_source import S3SourceProvider
from stageline.artifacts.base import ObjectRef
from stageline.artifacts.folder import FolderStore
from stageline.artifacts.s3 import S3Store
from stageline.domain.action_types import ActionTypeId

if TYPE_CHECKING:
    from tests.actions.conftest import LogCollector

S3_SOURCE = ActionTypeId("Source", "AWS", "S3", "1")
SOURCE_BUCKET = "sources"
OUT = ObjectRef("artifacts", "demo/SourceArti/abc123")
CONTENT = b"PK\x05\x06" + b"\x00" * 18  # an empty zip: copied byte for byte


def source_ctx(make_ctx: Callable[..., ActionContext], **fields: Any) -> ActionContext:
    config = {"S3Bucket": SOURCE_BUCKET, "S3ObjectKey": "app/source.zip"}
    config.update(fields.pop("configuration", {}))
    return make_ctx(
        S3_SOURCE,
        configuration=config,
        outputs=[OutputArtifact("SourceArtifact", OUT)],
        **fields,
    )


def test_copies_the_object_and_reports_its_revision(
    store: FolderStore, make_ctx: Callable[..., ActionContext], log: LogCollector
) -> None:
    store.ensure_bucket(SOURCE_BUCKET)
    put = store.put_bytes(SOURCE_BUCKET, "app/source.zip", CONTENT)

    outcome = S3SourceProvider().run(source_ctx(make_ctx))

    assert isinstance(outcome, Succeeded), outcome
    etag = hashlib.md5(CONTENT).hexdigest()
    assert store.head(OUT.bucket, OUT.key).etag == etag  # the same bytes
    assert outcome.revision is not None
    # FolderStore buckets are unversioned: the revision is the ETag.
    assert outcome.revision.revision_id == etag
    assert outcome.revision.change_id == etag
    assert outcome.revision.created == put.last_modified
    assert outcome.output_variables == {
        "ETag": etag,
        "BucketName": SOURCE_BUCKET,
        "ObjectKey": "app/source.zip",
    }
    assert "s3://sources/app/source.zip" in log.text


def test_pinned_revision_that_is_still_current_is_fetched(
    store: FolderStore, make_ctx: Callable[..., ActionContext]
) -> None:
    store.ensure_bucket(SOURCE_BUCKET)
    etag = store.put_bytes(SOURCE_BUCKET, "app/source.zip", CONTENT).etag

    outcome = S3SourceProvider().run(source_ctx(make_ctx, continuation={"revisionId": etag}))

    assert isinstance(outcome, Succeeded), outcome
    assert outcome.revision is not None and outcome.revision.revision_id == etag


def test_pinned_revision_no_longer_available_fails(
    store: FolderStore, make_ctx: Callable[..., ActionContext]
) -> None:
    store.ensure_bucket(SOURCE_BUCKET)
    store.put_bytes(SOURCE_BUCKET, "app/source.zip", CONTENT)

    ctx = source_ctx(make_ctx, continuation={"revisionId": "0" * 32})
    outcome = S3SourceProvider().run(ctx)

    assert isinstance(outcome, Failed)
    assert outcome.code == "RevisionUnavailable"
    assert "0" * 32 in outcome.message


def test_missing_object_fails_clearly(
    store: FolderStore, make_ctx: Callable[..., ActionContext]
) -> None:
    store.ensure_bucket(SOURCE_BUCKET)

    outcome = S3SourceProvider().run(source_ctx(make_ctx))

    assert isinstance(outcome, Failed)
    assert outcome.code == "JobFailed"
    assert "s3://sources/app/source.zip" in outcome.message
    assert "not found" in outcome.message


def test_missing_bucket_fails_clearly(make_ctx: Callable[..., ActionContext]) -> None:
    outcome = S3SourceProvider().run(source_ctx(make_ctx))

    assert isinstance(outcome, Failed)
    assert outcome.code == "JobFailed"
    assert "sources" in outcome.message


def test_object_key_override_needs_the_opt_in(
    store: FolderStore, make_ctx: Callable[..., ActionContext]
) -> None:
    store.ensure_bucket(SOURCE_BUCKET)
    store.put_bytes(SOURCE_BUCKET, "other.zip", CONTENT)
    override = {"objectKey": "other.zip"}

    refused = S3SourceProvider().run(source_ctx(make_ctx, continuation=override))
    allowed = S3SourceProvider().run(
        source_ctx(
            make_ctx,
            continuation=override,
            configuration={"AllowOverrideForS3ObjectKey": "true"},
        )
    )

    assert isinstance(refused, Failed) and refused.code == "ConfigurationError"
    assert isinstance(allowed, Succeeded), allowed
    assert allowed.output_variables["ObjectKey"] == "other.zip"


# -- a versioned bucket, on moto's S3 server through S3Store ---------------------------------


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    with moto_s3_server() as url:
        yield url


@pytest.fixture
def s3_store(moto_url: str) -> S3Store:
    client = boto3.client(
        "s3",
        endpoint_url=moto_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    s3 = S3Store(client)
    s3.ensure_bucket(SOURCE_BUCKET)
    s3.ensure_bucket(OUT.bucket)
    client.put_bucket_versioning(
        Bucket=SOURCE_BUCKET, VersioningConfiguration={"Status": "Enabled"}
    )
    return s3


def test_versioned_bucket_reports_and_pins_version_ids(
    s3_store: S3Store, make_ctx: Callable[..., ActionContext], tmp_path: Path
) -> None:
    first = s3_store.put_bytes(SOURCE_BUCKET, "app/source.zip", b"first")
    second = s3_store.put_bytes(SOURCE_BUCKET, "app/source.zip", b"second")
    assert first.version_id and second.version_id

    latest = S3SourceProvider().run(source_ctx(make_ctx, store=s3_store))
    pinned = S3SourceProvider().run(
        source_ctx(make_ctx, store=s3_store, continuation={"revisionId": first.version_id})
    )

    assert isinstance(latest, Succeeded), latest
    assert latest.revision is not None
    assert latest.revision.revision_id == second.version_id
    assert latest.output_variables["VersionId"] == second.version_id
    assert isinstance(pinned, Succeeded), pinned
    assert pinned.output_variables["VersionId"] == first.version_id
    assert pinned.output_variables["ETag"] == hashlib.md5(b"first").hexdigest()
    s3_store.get_file(OUT.bucket, OUT.key, tmp_path / "out")
    assert (tmp_path / "out").read_bytes() == b"first"


def test_unknown_pinned_version_is_unavailable(
    s3_store: S3Store, make_ctx: Callable[..., ActionContext]
) -> None:
    s3_store.put_bytes(SOURCE_BUCKET, "app/source.zip", b"content")

    ctx = source_ctx(make_ctx, store=s3_store, continuation={"revisionId": "no-such-version"})
    outcome = S3SourceProvider().run(ctx)

    assert isinstance(outcome, Failed)
    assert outcome.code == "RevisionUnavailable"
