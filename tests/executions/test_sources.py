"""StartPipelineExecution's sourceRevisions: run an older version, or another object key."""

from __future__ import annotations

from typing import Any

from tests.executions.declarations import commands, pipeline, s3_source, stage, unique
from tests.executions.stack import Stack


def reading_pipeline(name: str, bucket: str) -> dict[str, Any]:
    source = s3_source(bucket)
    source["configuration"]["AllowOverrideForS3ObjectKey"] = "true"
    read = commands("Read", ["export CONTENT=$(cat version.txt)"], variables=["CONTENT"])
    return pipeline(name, stage("Source", source), stage("Build", read), mode="QUEUED")


def content(stack: Stack, name: str, execution_id: str) -> str:
    rows = stack.action_executions(name, execution_id)
    read = next(r for r in rows if r["actionName"] == "Read")
    return str(read["output"]["outputVariables"]["CONTENT"])


def test_a_source_revision_override_picks_the_object(stack: Stack) -> None:
    name, bucket = unique("e2e-override"), unique("src")
    old = stack.put_source(bucket, "app.zip", {"version.txt": "v1"})
    first = stack.create_pipeline(reading_pipeline(name, bucket))
    stack.wait(name, first, "Succeeded")
    current = stack.put_source(bucket, "app.zip", {"version.txt": "v2"})
    stack.put_source(bucket, "other.zip", {"version.txt": "other"})

    latest = stack.start(name)
    by_key = stack.start(
        name,
        sourceRevisions=[
            {"actionName": "Source", "revisionType": "S3_OBJECT_KEY", "revisionValue": "other.zip"}
        ],
    )
    by_version = stack.start(
        name,
        sourceRevisions=[
            {"actionName": "Source", "revisionType": "S3_OBJECT_VERSION_ID", "revisionValue": old}
        ],
    )

    assert stack.wait(name, latest, "Succeeded")["artifactRevisions"][0]["revisionId"] == current
    assert content(stack, name, latest) == "v2"
    stack.wait(name, by_key, "Succeeded")
    assert content(stack, name, by_key) == "other"
    if stack.mode == "production":
        # A versioned bucket keeps the old object: the run builds it.
        execution = stack.wait(name, by_version, "Succeeded")
        assert execution["artifactRevisions"][0]["revisionId"] == old
        assert content(stack, name, by_version) == "v1"
    else:
        # A folder keeps only the current object: the old revision is gone, and the run says so.
        failed = stack.wait(name, by_version, "Failed")
        assert old in failed["statusSummary"]
