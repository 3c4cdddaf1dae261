"""Deploy / AWS / S3: the input artifact lands in the bucket, extracted or as its zip."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from stageline.actions.base import ActionContext, Failed, InputArtifact, Succeeded
from stageline.actions.s3_deploy import S3DeployProvider
from stageline.artifacts.base import ObjectRef
from stageline.artifacts.folder import FolderStore
from stageline.domain.action_types import ActionTypeId

S3_DEPLOY = ActionTypeId("Deploy", "AWS", "S3", "1")
SITE = "website"
FILES = {"index.html": "<h1>hi</h1>", "css/site.css": "h1 {}", "data/blob.bin": b"\x00\x01"}


@pytest.fixture
def site_input(store: FolderStore, put_zip: Callable[..., ObjectRef]) -> InputArtifact:
    store.ensure_bucket(SITE)
    return InputArtifact("BuildArtifact", put_zip("demo/BuildArtif/x1", FILES))


def deploy(make_ctx: Callable[..., ActionContext], artifact: InputArtifact, **config: str) -> Any:
    ctx = make_ctx(S3_DEPLOY, configuration={"BucketName": SITE, **config}, inputs=[artifact])
    return S3DeployProvider().run(ctx)


def test_extract_uploads_every_file_under_the_prefix(
    store: FolderStore, make_ctx: Callable[..., ActionContext], site_input: InputArtifact
) -> None:
    outcome = deploy(
        make_ctx,
        site_input,
        Extract="true",
        ObjectKey="/releases/v1/",
        CacheControl="public, max-age=0, no-transform",
        CannedACL="public-read",
    )

    assert isinstance(outcome, Succeeded), outcome
    assert store.list_keys(SITE) == [
        "releases/v1/css/site.css",
        "releases/v1/data/blob.bin",
        "releases/v1/index.html",
    ]
    assert "3 files" in (outcome.summary or "")
    assert store.metadata(SITE, "releases/v1/index.html") == {
        "CacheControl": "public, max-age=0, no-transform",
        "ContentType": "text/html",
    }
    assert store.metadata(SITE, "releases/v1/css/site.css")["ContentType"] == "text/css"


def test_extract_without_object_key_uploads_to_the_bucket_root(
    store: FolderStore, make_ctx: Callable[..., ActionContext], site_input: InputArtifact
) -> None:
    outcome = deploy(make_ctx, site_input, Extract="TRUE")

    assert isinstance(outcome, Succeeded), outcome
    assert store.list_keys(SITE) == ["css/site.css", "data/blob.bin", "index.html"]


def test_no_extract_uploads_the_zip_as_object_key(
    store: FolderStore,
    make_ctx: Callable[..., ActionContext],
    site_input: InputArtifact,
    tmp_path: Path,
) -> None:
    outcome = deploy(make_ctx, site_input, Extract="false", ObjectKey="archive/site.zip")

    assert isinstance(outcome, Succeeded), outcome
    assert store.list_keys(SITE) == ["archive/site.zip"]
    original = store.head(site_input.location.bucket, site_input.location.key)
    assert store.head(SITE, "archive/site.zip").etag == original.etag
    assert store.metadata(SITE, "archive/site.zip")["ContentType"] == "application/zip"


def test_no_extract_without_object_key_fails(
    make_ctx: Callable[..., ActionContext], site_input: InputArtifact
) -> None:
    outcome = deploy(make_ctx, site_input, Extract="false")

    assert isinstance(outcome, Failed)
    assert outcome.code == "ConfigurationError"
    assert "ObjectKey is required when Extract is false" in outcome.message


@pytest.mark.parametrize(
    ("config", "words"),
    [
        ({"Extract": "yes"}, "Extract must be true or false"),
        ({"Extract": "true", "CannedACL": "world-writable"}, "CannedACL world-writable"),
    ],
)
def test_bad_configuration_fails(
    make_ctx: Callable[..., ActionContext],
    site_input: InputArtifact,
    config: dict[str, str],
    words: str,
) -> None:
    outcome = deploy(make_ctx, site_input, **config)

    assert isinstance(outcome, Failed)
    assert words in outcome.message


def test_missing_target_bucket_fails(
    make_ctx: Callable[..., ActionContext], put_zip: Callable[..., ObjectRef]
) -> None:
    artifact = InputArtifact("BuildArtifact", put_zip("demo/BuildArtif/x2", FILES))

    outcome = deploy(make_ctx, artifact, Extract="true")

    assert isinstance(outcome, Failed)
    assert "website does not exist" in outcome.message


def test_missing_input_artifact_fails(
    store: FolderStore, make_ctx: Callable[..., ActionContext]
) -> None:
    store.ensure_bucket(SITE)
    artifact = InputArtifact("BuildArtifact", ObjectRef("artifacts", "demo/nothing"))

    outcome = deploy(make_ctx, artifact, Extract="true")

    assert isinstance(outcome, Failed)
    assert "BuildArtifact was not found" in outcome.message


def test_kms_key_is_accepted_and_logged(
    make_ctx: Callable[..., ActionContext], site_input: InputArtifact, log: Any
) -> None:
    outcome = deploy(
        make_ctx, site_input, Extract="false", ObjectKey="a.zip", KMSEncryptionKeyARN="arn:k"
    )

    assert isinstance(outcome, Succeeded)
    assert "KMSEncryptionKeyARN is ignored" in log.text
