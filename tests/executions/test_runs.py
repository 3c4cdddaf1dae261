"""A pipeline runs end to end: source, build, deploy; starting runs; bad requests."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import pytest
from tests.executions.declarations import (
    ARTIFACT_BUCKET,
    commands,
    pipeline,
    s3_deploy,
    s3_source,
    stage,
    unique,
)
from tests.executions.stack import Stack, zip_bytes
from tests.support.shared import shared_dir

SOURCE_FILES = {"index.txt": "hello\n", "about.txt": "about us\n", "README.md": "not shipped\n"}


def by_action(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["actionName"]: row for row in rows}


def in_artifact_folder(key: str, pipeline_name: str, artifact: str) -> bool:
    """AWS's artifact key shape: <pipeline name, cut>/<artifact name, cut>/<random>."""
    folder, name, random = key.split("/")
    return pipeline_name.startswith(folder) and artifact.startswith(name) and bool(random)


def test_source_build_deploy_runs_end_to_end(stack: Stack) -> None:
    name, source_bucket, site_bucket = unique("e2e-deploy"), unique("src"), unique("site")
    data = zip_bytes(SOURCE_FILES)
    revision = stack.put_object(source_bucket, "app.zip", data)
    etag = hashlib.md5(data, usedforsecurity=False).hexdigest()
    stack.create_bucket(site_bucket)
    build = commands(
        "Build",
        [
            "mkdir dist && cp *.txt dist/ && echo v1 > dist/version",
            "export VERSION=$(cat dist/version)",
            "export SOURCE_ETAG=#{SourceVariables.ETag}",
        ],
        output="BuildOutput",
        files=["dist/**/*"],
        variables=["VERSION", "SOURCE_ETAG"],
        namespace="BuildVariables",
    )
    declaration = pipeline(
        name,
        stage("Source", s3_source(source_bucket, namespace="SourceVariables")),
        stage("Build", build),
        stage("Deploy", s3_deploy(site_bucket, prefix="site")),
    )

    execution_id = stack.create_pipeline(declaration)
    execution = stack.wait(name, execution_id, "Succeeded")

    # What was deployed: the build's files, extracted under the prefix.
    assert stack.list_keys(site_bucket) == [
        "site/dist/about.txt",
        "site/dist/index.txt",
        "site/dist/version",
    ]
    assert stack.read_object(site_bucket, "site/dist/index.txt") == b"hello\n"
    assert stack.read_object(site_bucket, "site/dist/version") == b"v1\n"

    # GetPipelineExecution names the source revision.
    assert execution["pipelineVersion"] == 1
    assert execution["trigger"]["triggerType"] == "CreatePipeline"
    [artifact] = execution["artifactRevisions"]
    assert artifact["name"] == "SourceOutput"
    assert artifact["revisionId"] == revision

    # ListActionExecutions: inputs, outputs and their S3 locations, output variables.
    rows = by_action(stack.action_executions(name, execution_id))
    assert {n: r["status"] for n, r in rows.items()} == dict.fromkeys(
        ("Source", "Build", "Deploy"), "Succeeded"
    )
    source_out = rows["Source"]["output"]["outputArtifacts"][0]
    assert source_out["name"] == "SourceOutput"
    assert source_out["s3location"]["bucket"] == ARTIFACT_BUCKET
    assert in_artifact_folder(source_out["s3location"]["key"], name, "SourceOutput")
    source_vars = rows["Source"]["output"]["outputVariables"]
    assert source_vars["ETag"] == etag
    assert source_vars["BucketName"] == source_bucket
    assert source_vars["ObjectKey"] == "app.zip"
    if stack.mode == "production":
        assert source_vars["VersionId"] == revision

    build_in = rows["Build"]["input"]["inputArtifacts"]
    assert build_in == [{"name": "SourceOutput", "s3location": source_out["s3location"]}]
    build_out = rows["Build"]["output"]["outputArtifacts"][0]
    assert build_out["name"] == "BuildOutput"
    assert in_artifact_folder(build_out["s3location"]["key"], name, "BuildOutput")
    assert rows["Build"]["output"]["outputVariables"] == {"VERSION": "v1", "SOURCE_ETAG": etag}
    assert rows["Build"]["input"]["namespace"] == "BuildVariables"
    assert stack.read_zip(**build_out["s3location"]) == {
        "dist/index.txt": "hello\n",
        "dist/about.txt": "about us\n",
        "dist/version": "v1\n",
    }
    deploy_in = rows["Deploy"]["input"]["inputArtifacts"]
    assert deploy_in == [{"name": "BuildOutput", "s3location": build_out["s3location"]}]
    assert rows["Deploy"]["input"]["resolvedConfiguration"]["BucketName"] == site_bucket

    # GetPipelineState: every action succeeded; the source's current revision.
    state = stack.state(name)
    assert [s["stageName"] for s in state["stageStates"]] == ["Source", "Build", "Deploy"]
    for stage_state in state["stageStates"]:
        assert stage_state["latestExecution"] == {
            "pipelineExecutionId": execution_id,
            "status": "Succeeded",
            "type": "STANDARD",
        }
        [action] = stage_state["actionStates"]
        assert action["latestExecution"]["status"] == "Succeeded"
    source_state = state["stageStates"][0]["actionStates"][0]
    assert source_state["currentRevision"]["revisionId"] == revision


def test_create_starts_a_run_and_a_client_token_starts_one_only(stack: Stack) -> None:
    name, bucket = unique("e2e-start"), unique("src")
    stack.put_source(bucket, "app.zip", {"a.txt": "a"})
    say = commands(
        "Say",
        ["export SAID=#{variables.Greeting}", "test $SAID = #{variables.Greeting}"],
        variables=["SAID"],
    )
    declaration = pipeline(
        name,
        stage("Source", s3_source(bucket)),
        stage("Build", say),
        variables=[{"name": "Greeting", "defaultValue": "hi"}],
    )
    client = stack.client()

    first = stack.create_pipeline(declaration)
    [summary] = client.list_pipeline_executions(pipelineName=name)["pipelineExecutionSummaries"]
    assert summary["trigger"]["triggerType"] == "CreatePipeline"
    execution = stack.wait(name, first, "Succeeded")
    assert execution["variables"] == [{"name": "Greeting", "resolvedValue": "hi"}]

    token = str(uuid.uuid4())
    values = [{"name": "Greeting", "value": "hello"}]
    second = stack.start(name, clientRequestToken=token, variables=values)
    again = stack.start(name, clientRequestToken=token, variables=values)

    assert again == second != first
    summaries = client.list_pipeline_executions(pipelineName=name)["pipelineExecutionSummaries"]
    assert [s["pipelineExecutionId"] for s in summaries] == [second, first]
    assert summaries[0]["trigger"]["triggerType"] == "StartPipelineExecution"
    execution = stack.wait(name, second, "Succeeded")
    assert execution["variables"] == [{"name": "Greeting", "resolvedValue": "hello"}]
    rows = by_action(stack.action_executions(name, second))
    assert rows["Say"]["output"]["outputVariables"] == {"SAID": "hello"}


def test_bad_requests_get_aws_errors(stack: Stack) -> None:
    name, bucket = unique("e2e-bad"), unique("src")
    stack.put_source(bucket, "app.zip", {"a.txt": "a"})
    declaration = pipeline(
        name,
        stage("Source", s3_source(bucket)),
        stage("Build", commands("Build", ["true"])),
        variables=[{"name": "Env", "defaultValue": "dev"}],
    )
    execution_id = stack.create_pipeline(declaration)
    client = stack.client()
    errors = client.exceptions

    with pytest.raises(errors.PipelineNotFoundException):
        client.start_pipeline_execution(name=unique("missing"))
    with pytest.raises(errors.PipelineExecutionNotFoundException):
        client.get_pipeline_execution(pipelineName=name, pipelineExecutionId=str(uuid.uuid4()))
    with pytest.raises(errors.PipelineNotFoundException):
        client.get_pipeline_execution(
            pipelineName=unique("missing"), pipelineExecutionId=execution_id
        )
    with pytest.raises(errors.ValidationException) as undeclared:
        client.start_pipeline_execution(name=name, variables=[{"name": "Nope", "value": "x"}])
    assert "Nope" in str(undeclared.value)

    stack.wait(name, execution_id, "Succeeded")
    with pytest.raises(errors.StageNotFoundException):
        client.retry_stage_execution(
            pipelineName=name,
            stageName="NoSuchStage",
            pipelineExecutionId=execution_id,
            retryMode="FAILED_ACTIONS",
        )
    with pytest.raises(errors.StageNotFoundException):
        client.disable_stage_transition(
            pipelineName=name, stageName="NoSuchStage", transitionType="Inbound", reason="x"
        )
    with pytest.raises(errors.PipelineExecutionNotFoundException):
        client.list_action_executions(
            pipelineName=name, filter={"pipelineExecutionId": str(uuid.uuid4())}
        )
    with pytest.raises(errors.PipelineExecutionNotFoundException):
        client.stop_pipeline_execution(
            pipelineName=name, pipelineExecutionId=str(uuid.uuid4()), abandon=True
        )
    with pytest.raises(errors.PipelineNotFoundException):
        client.get_pipeline_state(name=unique("missing"))
    with pytest.raises(errors.PipelineNotFoundException):
        client.enable_stage_transition(
            pipelineName=unique("missing"), stageName="Build", transitionType="Inbound"
        )
    with pytest.raises(errors.StageNotFoundException):
        client.put_approval_result(
            pipelineName=name,
            stageName="NoSuchStage",
            actionName="Approve",
            result={"status": "Approved", "summary": "x"},
            token=str(uuid.uuid4()),
        )
    # Nothing was started by the refused requests.
    summaries = client.list_pipeline_executions(pipelineName=name)["pipelineExecutionSummaries"]
    assert [s["pipelineExecutionId"] for s in summaries] == [execution_id]


def test_a_variable_without_a_default_waits_for_a_value(stack: Stack) -> None:
    name, bucket = unique("e2e-variable"), unique("src")
    stack.put_source(bucket, "app.zip", {"a.txt": "a"})
    build = commands("Build", ["export TARGET=#{variables.Target}"], variables=["TARGET"])
    declaration = pipeline(
        name,
        stage("Source", s3_source(bucket)),
        stage("Build", build),
        variables=[{"name": "Target", "description": "where to"}],
    )
    client = stack.client()

    # CreatePipeline has no value to give: its run gets an empty one rather than failing.
    first = stack.create_pipeline(declaration)
    stack.wait(name, first, "Succeeded")
    assert stack.execution(name, first)["variables"] == [{"name": "Target", "resolvedValue": ""}]

    # A started run must give it.
    with pytest.raises(client.exceptions.ValidationException):
        client.start_pipeline_execution(name=name)
    execution_id = stack.start(name, variables=[{"name": "Target", "value": "staging"}])
    stack.wait(name, execution_id, "Succeeded")
    rows = by_action(stack.action_executions(name, execution_id))
    assert rows["Build"]["output"]["outputVariables"] == {"TARGET": "staging"}


def test_a_run_keeps_the_pipeline_version_it_started_with(stack: Stack) -> None:
    name, bucket = unique("e2e-update"), unique("src")
    started = shared_dir() / f"{name}.started"
    stack.put_source(bucket, "app.zip", {"a.txt": "a"})
    declaration = pipeline(
        name,
        stage("Source", s3_source(bucket)),
        stage("Build", commands("Build", [f"touch {started}", "sleep 2"])),
    )
    client = stack.client()
    first = stack.create_pipeline(declaration)
    stack.wait_for("the build to start", started.exists)

    declaration["stages"].append(stage("Extra", commands("Extra", ["true"])))
    assert client.update_pipeline(pipeline=declaration)["pipeline"]["version"] == 2

    execution = stack.wait(name, first, "Succeeded")
    assert execution["pipelineVersion"] == 1
    assert "Extra" not in {r["stageName"] for r in stack.action_executions(name, first)}
    extra = stack.state(name)["stageStates"][2]
    assert extra["stageName"] == "Extra"
    assert "latestExecution" not in extra

    second = stack.start(name)
    assert stack.wait(name, second, "Succeeded")["pipelineVersion"] == 2
    assert "Extra" in {r["stageName"] for r in stack.action_executions(name, second)}
    assert stack.state(name)["pipelineVersion"] == 2
