"""Pipeline declarations (AWS's JSON) built from the action types Stageline runs itself."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

ROLE_ARN = "arn:aws:iam::000000000000:role/stageline-test"
ARTIFACT_BUCKET = "stageline-e2e-artifacts"


def unique(prefix: str) -> str:
    """A pipeline or bucket name no other test uses (lowercase: valid as an S3 bucket)."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def s3_source(
    bucket: str,
    key: str = "app.zip",
    *,
    name: str = "Source",
    output: str = "SourceOutput",
    namespace: str | None = None,
) -> dict[str, Any]:
    action: dict[str, Any] = {
        "name": name,
        "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"},
        "configuration": {
            "S3Bucket": bucket,
            "S3ObjectKey": key,
            "PollForSourceChanges": "false",
        },
        "outputArtifacts": [{"name": output}],
    }
    if namespace:
        action["namespace"] = namespace
    return action


def commands(
    name: str,
    lines: Sequence[str],
    *,
    inputs: Sequence[str] = ("SourceOutput",),
    output: str | None = None,
    files: Sequence[str] = (),
    variables: Sequence[str] = (),
    run_order: int = 1,
    namespace: str | None = None,
    timeout_minutes: int | None = None,
) -> dict[str, Any]:
    action: dict[str, Any] = {
        "name": name,
        "actionTypeId": {
            "category": "Compute",
            "owner": "AWS",
            "provider": "Commands",
            "version": "1",
        },
        "runOrder": run_order,
        "commands": list(lines),
        "inputArtifacts": [{"name": i} for i in inputs],
    }
    if output:
        artifact: dict[str, Any] = {"name": output}
        if files:
            artifact["files"] = list(files)
        action["outputArtifacts"] = [artifact]
    if variables:
        action["outputVariables"] = list(variables)
    if namespace:
        action["namespace"] = namespace
    if timeout_minutes is not None:
        action["timeoutInMinutes"] = timeout_minutes
    return action


def s3_deploy(
    bucket: str, *, name: str = "Deploy", input: str = "BuildOutput", prefix: str = ""
) -> dict[str, Any]:
    configuration = {"BucketName": bucket, "Extract": "true"}
    if prefix:
        configuration["ObjectKey"] = prefix
    return {
        "name": name,
        "actionTypeId": {"category": "Deploy", "owner": "AWS", "provider": "S3", "version": "1"},
        "configuration": configuration,
        "inputArtifacts": [{"name": input}],
    }


def approval(
    name: str = "Approve", *, summary: str | None = None, link: str | None = None
) -> dict[str, Any]:
    configuration: dict[str, str] = {}
    if summary:
        configuration["CustomData"] = summary
    if link:
        configuration["ExternalEntityLink"] = link
    action: dict[str, Any] = {
        "name": name,
        "actionTypeId": {
            "category": "Approval",
            "owner": "AWS",
            "provider": "Manual",
            "version": "1",
        },
    }
    if configuration:
        action["configuration"] = configuration
    return action


def stage(name: str, *actions: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "actions": list(actions)}


def pipeline(
    name: str,
    *stages: dict[str, Any],
    mode: str = "SUPERSEDED",
    variables: Sequence[dict[str, str]] = (),
) -> dict[str, Any]:
    declaration: dict[str, Any] = {
        "name": name,
        "roleArn": ROLE_ARN,
        "artifactStore": {"type": "S3", "location": ARTIFACT_BUCKET},
        "stages": list(stages),
        "pipelineType": "V2",
        "executionMode": mode,
    }
    if variables:
        declaration["variables"] = list(variables)
    return declaration
