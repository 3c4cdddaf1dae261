"""Pipeline declarations for tests, in AWS's JSON."""

from __future__ import annotations

import uuid
from typing import Any

ROLE_ARN = "arn:aws:iam::000000000000:role/stageline-test"


def unique(prefix: str = "p") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def s3_source(name: str = "Source", output: str = "SourceOutput") -> dict[str, Any]:
    return {
        "name": name,
        "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"},
        "configuration": {"S3Bucket": "source-bucket", "S3ObjectKey": "app.zip"},
        "outputArtifacts": [{"name": output}],
    }


def codebuild(
    name: str = "Build",
    inputs: tuple[str, ...] = ("SourceOutput",),
    outputs: tuple[str, ...] = (),
    run_order: int | None = None,
) -> dict[str, Any]:
    action: dict[str, Any] = {
        "name": name,
        "actionTypeId": {
            "category": "Build",
            "owner": "AWS",
            "provider": "CodeBuild",
            "version": "1",
        },
        "configuration": {"ProjectName": "app"},
        "inputArtifacts": [{"name": i} for i in inputs],
        "outputArtifacts": [{"name": o} for o in outputs],
    }
    if run_order is not None:
        action["runOrder"] = run_order
    return action


def two_stage(name: str | None = None, **extra: Any) -> dict[str, Any]:
    """A minimal valid pipeline: S3 source, then a CodeBuild build."""
    return {
        "name": name or unique(),
        "roleArn": ROLE_ARN,
        "artifactStore": {"type": "S3", "location": "artifact-bucket"},
        "stages": [
            {"name": "Source", "actions": [s3_source()]},
            {"name": "Build", "actions": [codebuild()]},
        ],
        **extra,
    }
