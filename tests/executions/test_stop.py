"""StopPipelineExecution: abandon at once, or stop and wait for the actions in flight."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from tests.executions.declarations import commands, pipeline, s3_source, stage, unique
from tests.executions.stack import Stack
from tests.support.processes import alive
from tests.support.shared import shared_dir

BUILDS = Path(tempfile.gettempdir()) / "stageline-builds"  # the default STAGELINE_BUILD_DIR


def read_pid(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        return None
    return int(text) if text else None


def test_stop_and_abandon_ends_the_run_and_kills_the_commands(stack: Stack) -> None:
    name, bucket = unique("e2e-abandon"), unique("src")
    pid_file, fixed = shared_dir() / f"{name}.pid", shared_dir() / f"{name}.fixed"
    skip_when_fixed = [f"if [ -f {fixed} ]; then exit 0; fi"]
    stack.put_source(bucket, "app.zip", {"a.txt": "a"})
    declaration = pipeline(
        name,
        stage("Source", s3_source(bucket)),
        stage(
            "Build",
            commands("Long", [*skip_when_fixed, f"sleep 30 & echo $! > {pid_file}; wait"]),
        ),
        stage("Ship", commands("Ship", ["true"])),
    )
    client = stack.client()
    execution_id = stack.create_pipeline(declaration)
    pid = stack.wait_for("the long command to start", lambda: read_pid(pid_file))
    assert alive(pid)

    client.stop_pipeline_execution(
        pipelineName=name, pipelineExecutionId=execution_id, abandon=True, reason="Wrong commit"
    )

    execution = stack.wait(name, execution_id, "Stopped", timeout=5)
    assert "Wrong commit" in execution.get("statusSummary", "")
    rows = stack.action_executions(name, execution_id)
    assert {r["actionName"]: r["status"] for r in rows} == {
        "Source": "Succeeded",
        "Long": "Abandoned",
    }
    stages = stack.state(name)["stageStates"]
    assert stages[1]["latestExecution"]["status"] == "Stopped"
    [summary] = client.list_pipeline_executions(pipelineName=name)["pipelineExecutionSummaries"]
    assert summary["status"] == "Stopped"
    assert summary["stopTrigger"]["reason"] == "Wrong commit"
    # The worker lost its lease and killed the commands' process group.
    stack.wait_for(f"the abandoned sleep (pid {pid}) to be killed", lambda: not alive(pid), 20)
    with pytest.raises(client.exceptions.PipelineExecutionNotStoppableException):
        client.stop_pipeline_execution(
            pipelineName=name, pipelineExecutionId=execution_id, abandon=True
        )

    # The stopped stage can be retried: the abandoned action runs again.
    fixed.touch()
    client.retry_stage_execution(
        pipelineName=name,
        stageName="Build",
        pipelineExecutionId=execution_id,
        retryMode="FAILED_ACTIONS",
    )
    stack.wait(name, execution_id, "Succeeded")
    runs = [(r["actionName"], r["status"]) for r in stack.action_executions(name, execution_id)]
    assert runs == [
        ("Source", "Succeeded"),
        ("Long", "Abandoned"),
        ("Long", "Succeeded"),
        ("Ship", "Succeeded"),
    ]


def test_abandon_after_stop_and_wait_ends_the_run_at_once(stack: Stack) -> None:
    name, bucket = unique("e2e-stop-then-abandon"), unique("src")
    pid_file = shared_dir() / f"{name}.pid"
    stack.put_source(bucket, "app.zip", {"a.txt": "a"})
    declaration = pipeline(
        name,
        stage("Source", s3_source(bucket)),
        stage("Build", commands("Long", [f"sleep 30 & echo $! > {pid_file}; wait"])),
    )
    client = stack.client()
    execution_id = stack.create_pipeline(declaration)
    pid = stack.wait_for("the long command to start", lambda: read_pid(pid_file))
    params = {"pipelineName": name, "pipelineExecutionId": execution_id}

    client.stop_pipeline_execution(**params, abandon=False, reason="wait for it")
    assert stack.execution(name, execution_id)["status"] == "Stopping"
    client.stop_pipeline_execution(**params, abandon=True, reason="no, now")

    stack.wait(name, execution_id, "Stopped", timeout=5)
    statuses = {r["actionName"]: r["status"] for r in stack.action_executions(name, execution_id)}
    assert statuses == {"Source": "Succeeded", "Long": "Abandoned"}
    stack.wait_for(f"the abandoned sleep (pid {pid}) to be killed", lambda: not alive(pid), 20)


def test_stop_and_wait_lets_the_action_finish_and_runs_nothing_after(stack: Stack) -> None:
    name, bucket = unique("e2e-stop-wait"), unique("src")
    started = shared_dir() / f"{name}.started"
    stack.put_source(bucket, "app.zip", {"a.txt": "a"})
    declaration = pipeline(
        name,
        stage("Source", s3_source(bucket)),
        stage(
            "Build",
            commands(
                "Work", [f"touch {started}", "sleep 3", "export DONE=yes"], variables=["DONE"]
            ),
        ),
        stage("Ship", commands("Ship", ["true"])),
    )
    client = stack.client()
    errors = client.exceptions
    execution_id = stack.create_pipeline(declaration)
    stack.wait_for("the work to start", started.exists)

    client.stop_pipeline_execution(
        pipelineName=name, pipelineExecutionId=execution_id, abandon=False, reason="Hold on"
    )
    assert stack.execution(name, execution_id)["status"] == "Stopping"
    with pytest.raises(errors.DuplicatedStopRequestException):
        client.stop_pipeline_execution(
            pipelineName=name, pipelineExecutionId=execution_id, abandon=False
        )
    assert stack.state(name)["stageStates"][1]["latestExecution"]["status"] == "Stopping"

    stack.wait(name, execution_id, "Stopped", timeout=30)
    rows = stack.action_executions(name, execution_id)
    work = next(r for r in rows if r["actionName"] == "Work")
    assert work["status"] == "Succeeded"
    assert work["output"]["outputVariables"] == {"DONE": "yes"}
    assert "Ship" not in {r["actionName"] for r in rows}
    with pytest.raises(errors.PipelineExecutionNotStoppableException):
        client.stop_pipeline_execution(
            pipelineName=name, pipelineExecutionId=execution_id, abandon=False
        )


def test_a_finished_run_cannot_be_stopped(stack: Stack) -> None:
    name, bucket = unique("e2e-stop-done"), unique("src")
    stack.put_source(bucket, "app.zip", {"a.txt": "a"})
    declaration = pipeline(
        name, stage("Source", s3_source(bucket)), stage("Build", commands("Build", ["true"]))
    )
    execution_id = stack.create_pipeline(declaration)
    stack.wait(name, execution_id, "Succeeded")
    client = stack.client()
    for abandon in (False, True):
        with pytest.raises(client.exceptions.PipelineExecutionNotStoppableException):
            client.stop_pipeline_execution(
                pipelineName=name, pipelineExecutionId=execution_id, abandon=abandon
            )


def test_stop_and_wait_halts_before_the_next_run_order_and_a_retry_resumes(stack: Stack) -> None:
    name, bucket = unique("e2e-stop-group"), unique("src")
    started = shared_dir() / f"{name}.started"
    stack.put_source(bucket, "app.zip", {"a.txt": "a"})
    declaration = pipeline(
        name,
        stage("Source", s3_source(bucket)),
        stage(
            "Build",
            commands("First", [f"touch {started}", "sleep 2"]),
            commands("Second", ["true"], run_order=2),
        ),
        stage("Ship", commands("Ship", ["true"])),
    )
    client = stack.client()
    execution_id = stack.create_pipeline(declaration)
    stack.wait_for("the first group to start", started.exists)

    client.stop_pipeline_execution(
        pipelineName=name, pipelineExecutionId=execution_id, abandon=False
    )

    stack.wait(name, execution_id, "Stopped", timeout=30)
    statuses = {r["actionName"]: r["status"] for r in stack.action_executions(name, execution_id)}
    assert statuses == {"Source": "Succeeded", "First": "Succeeded"}
    assert stack.state(name)["stageStates"][1]["latestExecution"]["status"] == "Stopped"

    client.retry_stage_execution(
        pipelineName=name,
        stageName="Build",
        pipelineExecutionId=execution_id,
        retryMode="FAILED_ACTIONS",
    )

    stack.wait(name, execution_id, "Succeeded")
    runs = [r["actionName"] for r in stack.action_executions(name, execution_id)]
    assert sorted(runs) == ["First", "Second", "Ship", "Source"]


def workspaces(stack: Stack, action_execution_id: str) -> list[Path]:
    """The directories of one action execution, wherever a process put them: its workspace
    under a data dir, and the build directory its commands ran in."""
    found = list(stack.root.glob(f"**/workspaces/{action_execution_id}"))
    found += BUILDS.glob(f"commands-{action_execution_id}-*")
    return [p for p in found if p.is_dir()]


def test_deleting_a_pipeline_mid_run_stops_its_commands_and_cleans_up(stack: Stack) -> None:
    name, bucket = unique("e2e-delete"), unique("src")
    pid_file = shared_dir() / f"{name}.pid"
    stack.put_source(bucket, "app.zip", {"a.txt": "a"})
    chatty = f"(while true; do echo tick; sleep 0.1; done) & echo $! > {pid_file}"
    declaration = pipeline(
        name,
        stage("Source", s3_source(bucket)),
        stage("Build", commands("Chatty", [chatty + "; wait"])),
    )
    client = stack.client()
    execution_id = stack.create_pipeline(declaration)
    pid = stack.wait_for("the commands to start", lambda: read_pid(pid_file))
    [chatty_run] = [
        r for r in stack.action_executions(name, execution_id) if r["actionName"] == "Chatty"
    ]
    assert workspaces(stack, chatty_run["actionExecutionId"])

    client.delete_pipeline(name=name)

    stack.wait_for(f"the deleted run's commands (pid {pid}) to stop", lambda: not alive(pid))
    stack.wait_for(
        "the deleted run's workspace to be removed",
        lambda: not workspaces(stack, chatty_run["actionExecutionId"]),
        timeout=20,
    )
    # The executor goes on with other work.
    other, other_bucket = unique("e2e-after-delete"), unique("src")
    stack.put_source(other_bucket, "app.zip", {"a.txt": "a"})
    after = stack.create_pipeline(
        pipeline(
            other,
            stage("Source", s3_source(other_bucket)),
            stage("Build", commands("Build", ["true"])),
        )
    )
    stack.wait(other, after, "Succeeded")
