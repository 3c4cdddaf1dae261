"""A disabled inbound transition holds runs at the stage's door until it is enabled."""

from __future__ import annotations

import time
from typing import Any

from tests.executions.declarations import commands, pipeline, s3_source, stage, unique
from tests.executions.stack import Stack

REASON = "Change freeze until the release review"


def test_a_disabled_transition_holds_runs_until_enabled(stack: Stack) -> None:
    name, bucket = unique("e2e-transition"), unique("src")
    stack.put_source(bucket, "app.zip", {"a.txt": "a"})
    declaration = pipeline(
        name,
        stage("Source", s3_source(bucket)),
        stage("Build", commands("Build", ["true"])),
    )
    client = stack.client()
    first = stack.create_pipeline(declaration)
    stack.wait(name, first, "Succeeded")

    client.disable_stage_transition(
        pipelineName=name, stageName="Build", transitionType="Inbound", reason=REASON
    )
    held = stack.start(name)

    def waiting_at_build() -> dict[str, Any] | None:
        build: dict[str, Any] = stack.state(name)["stageStates"][1]
        ids = [e["pipelineExecutionId"] for e in build.get("inboundExecutions") or []]
        return build if held in ids else None

    build = stack.wait_for(f"{held} to wait at Build", waiting_at_build)
    assert build["inboundExecution"]["pipelineExecutionId"] == held
    assert build["inboundExecution"]["status"] == "InProgress"
    transition = build["inboundTransitionState"]
    assert transition["enabled"] is False
    assert transition["disabledReason"] == REASON
    assert transition["lastChangedBy"]
    assert "lastChangedAt" in transition
    # Still held a moment later: Build's latest run is the first one, and nothing ran.
    time.sleep(1)
    assert stack.execution(name, held)["status"] == "InProgress"
    assert build["latestExecution"]["pipelineExecutionId"] == first
    assert {r["stageName"] for r in stack.action_executions(name, held)} == {"Source"}

    client.enable_stage_transition(pipelineName=name, stageName="Build", transitionType="Inbound")

    stack.wait(name, held, "Succeeded")
    build = stack.state(name)["stageStates"][1]
    assert build["inboundTransitionState"]["enabled"] is True
    assert not build.get("inboundExecutions")
    assert build["latestExecution"]["pipelineExecutionId"] == held


def test_runs_held_at_a_door_supersede_each_other_and_outbound_holds_too(stack: Stack) -> None:
    name, bucket = unique("e2e-door"), unique("src")
    stack.put_source(bucket, "app.zip", {"a.txt": "a"})
    declaration = pipeline(
        name,
        stage("Source", s3_source(bucket)),
        stage("Build", commands("Build", ["true"])),
    )
    client = stack.client()
    first = stack.create_pipeline(declaration)
    stack.wait(name, first, "Succeeded")
    # Outbound of Source is the same door as Inbound of Build.
    door = {"pipelineName": name, "stageName": "Source", "transitionType": "Outbound"}
    client.disable_stage_transition(**door, reason="hold")

    older = stack.start(name)
    stack.wait_for(
        f"{older} to wait at Build",
        lambda: stack.state(name)["stageStates"][1].get("inboundExecutions"),
    )
    newer = stack.start(name)

    # SUPERSEDED: of the runs waiting at one door only the newest stays.
    superseded = stack.wait(name, older, "Superseded")
    assert newer in superseded["statusSummary"]
    waiting = stack.wait_for(
        f"{newer} to wait at Build",
        lambda: (
            [
                e["pipelineExecutionId"]
                for e in stack.state(name)["stageStates"][1].get("inboundExecutions") or []
            ]
            == [newer]
        ),
    )
    assert waiting
    client.enable_stage_transition(**door)
    stack.wait(name, newer, "Succeeded")
    ran = [
        r["pipelineExecutionId"]
        for r in stack.action_executions(name)
        if r["actionName"] == "Build"
    ]
    assert sorted(ran) == sorted([first, newer])
