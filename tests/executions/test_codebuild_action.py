"""The CodeBuild action in pipelines, on both shapes of Stageline: a real build of a real
project per attempt, its sources from input artifacts, its artifacts as output artifacts,
its exported variables as output variables that later actions use."""

from __future__ import annotations

import json
from typing import Any

from tests.executions.builds import (
    build_log,
    buildspec,
    create_project,
    get_build,
    phases,
    unique,
    wait_build,
)
from tests.executions.declarations import ARTIFACT_BUCKET, commands, pipeline, s3_source, stage
from tests.executions.stack import Stack


def codebuild(
    name: str,
    project: str,
    *,
    inputs: tuple[str, ...] = ("SourceOutput",),
    outputs: tuple[str, ...] = (),
    namespace: str | None = None,
    category: str = "Build",
    **configuration: str,
) -> dict[str, Any]:
    action: dict[str, Any] = {
        "name": name,
        "actionTypeId": {
            "category": category,
            "owner": "AWS",
            "provider": "CodeBuild",
            "version": "1",
        },
        "configuration": {"ProjectName": project, **configuration},
        "inputArtifacts": [{"name": i} for i in inputs],
        "outputArtifacts": [{"name": o} for o in outputs],
    }
    if namespace:
        action["namespace"] = namespace
    return action


def pipeline_project(stack: Stack, spec: str, **settings: Any) -> str:
    name = unique("pp")
    create_project(
        stack,
        name,
        source={"type": "CODEPIPELINE", "buildspec": spec},
        artifacts={"type": "CODEPIPELINE"},
        **settings,
    )
    return name


def build_action(
    stack: Stack, pipeline_name: str, execution_id: str, action: str
) -> dict[str, Any]:
    rows = stack.action_executions(pipeline_name, execution_id)
    row: dict[str, Any] = next(r for r in rows if r["actionName"] == action)
    return row


EXPORTS = buildspec(
    """
version: 0.2
env:
  exported-variables: [VERSION, GREETING]
phases:
  build:
    commands:
      - export VERSION="$(cat version.txt)-$CODEBUILD_BUILD_NUMBER"
      - echo "greeting=$GREETING initiator=$CODEBUILD_INITIATOR"
      - mkdir -p out && echo "built $VERSION" > out/result.txt
artifacts:
  base-directory: out
  files: ['**/*']
"""
)


def test_a_build_action_exports_variables_a_later_action_uses(stack: Stack) -> None:
    bucket, name = unique("cbsrc"), unique("cbpipe")
    stack.put_source(bucket, "app.zip", {"version.txt": "4.2"})
    project = pipeline_project(stack, EXPORTS)
    variables = json.dumps([{"name": "GREETING", "value": "hello", "type": "PLAINTEXT"}])
    declaration = pipeline(
        name,
        stage("Source", s3_source(bucket)),
        stage(
            "Build",
            codebuild(
                "Build",
                project,
                outputs=("BuildOutput",),
                namespace="BuildVariables",
                EnvironmentVariables=variables,
            ),
        ),
        stage(
            "Use",
            commands(
                "Use",
                [
                    "echo version=#{BuildVariables.VERSION}",
                    'test "$(cat result.txt)" = "built #{BuildVariables.VERSION}"',
                ],
                inputs=("BuildOutput",),
            ),
        ),
    )
    execution_id = stack.create_pipeline(declaration)
    stack.wait(name, execution_id)

    row = build_action(stack, name, execution_id, "Build")
    output = row["output"]
    assert output["outputVariables"] == {"VERSION": "4.2-1", "GREETING": "hello"}
    build_id = output["executionResult"]["externalExecutionId"]
    assert build_id.startswith(f"{project}:")
    assert build_id in output["executionResult"]["externalExecutionUrl"]
    build = get_build(stack, build_id)
    assert build["buildStatus"] == "SUCCEEDED"
    assert build["initiator"] == f"codepipeline/{name}"
    assert build["source"]["type"] == "CODEPIPELINE"
    # The action's log is the build's log.
    text = build_log(stack, build_id)
    assert f"greeting=hello initiator=codepipeline/{name}" in text


MULTI = buildspec(
    """
version: 0.2
phases:
  build:
    commands:
      - cat app.txt "$CODEBUILD_SRC_DIR_Extra/extra.txt" > combined.txt
      - echo docs > manual.txt
artifacts:
  files: [combined.txt]
  secondary-artifacts:
    Binaries:
      files: [combined.txt]
    Docs:
      files: [manual.txt]
"""
)


def test_several_inputs_and_several_outputs(stack: Stack) -> None:
    bucket, name = unique("cbmulti"), unique("cbmulti")
    stack.put_source(bucket, "app.zip", {"app.txt": "app"})
    stack.put_source(bucket, "extra.zip", {"extra.txt": "extra"})
    project = pipeline_project(stack, MULTI)
    declaration = pipeline(
        name,
        stage(
            "Source",
            s3_source(bucket),
            s3_source(bucket, "extra.zip", name="Extra", output="Extra"),
        ),
        stage(
            "Build",
            codebuild(
                "Build",
                project,
                inputs=("SourceOutput", "Extra"),
                outputs=("Binaries", "Docs"),
                PrimarySource="SourceOutput",
            ),
        ),
    )
    execution_id = stack.create_pipeline(declaration)
    stack.wait(name, execution_id)
    row = build_action(stack, name, execution_id, "Build")
    locations = {a["name"]: a["s3location"] for a in row["output"]["outputArtifacts"]}
    binaries, docs = locations["Binaries"], locations["Docs"]
    assert stack.read_zip(binaries["bucket"], binaries["key"]) == {"combined.txt": "appextra"}
    assert stack.read_zip(docs["bucket"], docs["key"]) == {"manual.txt": "docs\n"}
    assert binaries["bucket"] == ARTIFACT_BUCKET


FAILING = buildspec(
    """
version: 0.2
phases:
  build:
    commands:
      - echo "compiling module alpha"
      - echo "alpha.c line 12 - expected semicolon" >&2
      - exit 2
"""
)


def test_a_failed_build_fails_the_action_with_the_phase_and_the_last_lines(stack: Stack) -> None:
    bucket, name = unique("cbfail"), unique("cbfail")
    stack.put_source(bucket, "app.zip", {"a.txt": "a"})
    project = pipeline_project(stack, FAILING)
    declaration = pipeline(
        name,
        stage("Source", s3_source(bucket)),
        stage("Test", codebuild("Test", project, category="Test")),
    )
    execution_id = stack.create_pipeline(declaration)
    stack.wait(name, execution_id, "Failed")
    row = build_action(stack, name, execution_id, "Test")
    result = row["output"]["executionResult"]
    message = result["errorDetails"]["message"]
    assert "Build terminated with state: FAILED" in message
    assert "Phase: BUILD" in message
    assert "expected semicolon" in message  # the log's last lines
    build = get_build(stack, result["externalExecutionId"])
    assert build["buildStatus"] == "FAILED" and phases(build)["BUILD"] == "FAILED"


def test_configuration_errors_fail_the_action_clearly(stack: Stack) -> None:
    bucket, name = unique("cbconf"), unique("cbconf")
    stack.put_source(bucket, "app.zip", {"a.txt": "a"})
    project = pipeline_project(stack, "version: 0.2\nphases:\n  build:\n    commands: ['true']\n")
    declaration = pipeline(
        name,
        stage("Source", s3_source(bucket)),
        stage(
            "Build",
            codebuild("Batch", project, BatchEnabled="true"),
            codebuild("Missing", unique("no-such-project")),
            codebuild("BadVars", project, EnvironmentVariables="not json"),
        ),
    )
    execution_id = stack.create_pipeline(declaration)
    stack.wait(name, execution_id, "Failed")
    errors = {
        r["actionName"]: r["output"]["executionResult"]["errorDetails"]
        for r in stack.action_executions(name, execution_id)
        if r["stageName"] == "Build"
    }
    assert "batch builds are not supported" in errors["Batch"]["message"]
    assert "Project cannot be found" in errors["Missing"]["message"]
    assert "not valid JSON" in errors["BadVars"]["message"]
    assert {e["code"] for e in errors.values()} == {"ConfigurationError"}


def test_a_standalone_build_takes_a_pipeline_artifact_as_its_source(stack: Stack) -> None:
    bucket, name = unique("cbart"), unique("cbart")
    stack.put_source(bucket, "app.zip", {"version.txt": "7.0"})
    declaration = pipeline(
        name, stage("Source", s3_source(bucket)), stage("Hold", commands("Noop", ["true"]))
    )
    execution_id = stack.create_pipeline(declaration)
    stack.wait(name, execution_id)
    source = build_action(stack, name, execution_id, "Source")
    location = source["output"]["outputArtifacts"][0]["s3location"]

    project = unique("fromart")
    create_project(stack, project)
    spec = 'version: 0.2\nphases:\n  build:\n    commands:\n      - echo "version $(cat version.txt)"\n'
    cb = stack.codebuild()
    build_id = cb.start_build(
        projectName=project,
        sourceTypeOverride="S3",
        sourceLocationOverride=f"{location['bucket']}/{location['key']}",
        buildspecOverride=spec,
    )["build"]["id"]
    build = wait_build(stack, build_id)
    assert build["buildStatus"] == "SUCCEEDED"
    assert "version 7.0" in build_log(stack, build_id)
