"""A failing action fails its stage and run; RetryStageExecution and its refusals."""

from __future__ import annotations

from collections import Counter

import pytest
from tests.executions.declarations import commands, pipeline, s3_source, stage, unique
from tests.executions.stack import Stack
from tests.support.shared import shared_dir


def test_a_failed_action_fails_the_run_and_a_retry_reruns_only_it(stack: Stack) -> None:
    name, bucket = unique("e2e-retry"), unique("src")
    marker = shared_dir() / f"{name}.fixed"
    stack.put_source(bucket, "app.zip", {"a.txt": "a"})
    check = f"test -f {marker} || exit 3"
    declaration = pipeline(
        name,
        stage("Source", s3_source(bucket)),
        stage(
            "Build",
            commands("Flaky", ["echo checking", check]),
            commands("Slow", ["sleep 1.5", "export DONE=yes"], variables=["DONE"]),
        ),
        stage("Ship", commands("Ship", ["true"])),
    )
    client = stack.client()
    errors = client.exceptions

    older = stack.create_pipeline(declaration)
    failed = stack.wait(name, older, "Failed")
    assert check in failed["statusSummary"]
    assert "exit status 3" in failed["statusSummary"]
    rows = stack.action_executions(name, older)
    status = {r["actionName"]: r["status"] for r in rows}
    # The action in flight beside the failed one was let finish; no later stage ran.
    assert status == {"Source": "Succeeded", "Flaky": "Failed", "Slow": "Succeeded"}
    flaky = next(r for r in rows if r["actionName"] == "Flaky")
    error = flaky["output"]["executionResult"]["errorDetails"]
    assert error["code"] == "JobFailed"
    assert f"Error while executing command: {check}. Reason: exit status 3" in error["message"]
    state = stack.state(name)["stageStates"][1]
    assert state["latestExecution"]["status"] == "Failed"

    newer = stack.start(name)
    stack.wait(name, newer, "Failed")

    # The older run is not the latest to have run Build.
    with pytest.raises(errors.NotLatestPipelineExecutionException):
        client.retry_stage_execution(
            pipelineName=name,
            stageName="Build",
            pipelineExecutionId=older,
            retryMode="FAILED_ACTIONS",
        )

    marker.touch()
    retried = client.retry_stage_execution(
        pipelineName=name, stageName="Build", pipelineExecutionId=newer, retryMode="FAILED_ACTIONS"
    )
    assert retried["pipelineExecutionId"] == newer
    stack.wait(name, newer, "Succeeded")
    runs = Counter(r["actionName"] for r in stack.action_executions(name, newer))
    assert runs == {"Source": 1, "Flaky": 2, "Slow": 1, "Ship": 1}
    statuses = [
        r["status"] for r in stack.action_executions(name, newer) if r["actionName"] == "Flaky"
    ]
    assert statuses == ["Failed", "Succeeded"]

    # A succeeded stage cannot be retried.
    with pytest.raises(errors.StageNotRetryableException):
        client.retry_stage_execution(
            pipelineName=name,
            stageName="Build",
            pipelineExecutionId=newer,
            retryMode="FAILED_ACTIONS",
        )
    with pytest.raises(errors.StageNotRetryableException):
        client.retry_stage_execution(
            pipelineName=name,
            stageName="Source",
            pipelineExecutionId=newer,
            retryMode="ALL_ACTIONS",
        )


def test_retry_all_actions_reruns_the_whole_stage(stack: Stack) -> None:
    name, bucket = unique("e2e-retry-all"), unique("src")
    marker = shared_dir() / f"{name}.fixed"
    stack.put_source(bucket, "app.zip", {"a.txt": "a"})
    declaration = pipeline(
        name,
        stage("Source", s3_source(bucket)),
        stage(
            "Build",
            commands("Flaky", [f"test -f {marker}"]),
            commands("Steady", ["true"]),
        ),
    )
    execution_id = stack.create_pipeline(declaration)
    stack.wait(name, execution_id, "Failed")
    marker.touch()

    stack.client().retry_stage_execution(
        pipelineName=name,
        stageName="Build",
        pipelineExecutionId=execution_id,
        retryMode="ALL_ACTIONS",
    )

    stack.wait(name, execution_id, "Succeeded")
    runs = Counter(r["actionName"] for r in stack.action_executions(name, execution_id))
    assert runs == {"Source": 1, "Flaky": 2, "Steady": 2}
