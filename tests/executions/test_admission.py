"""Stage admission when entering a stage ends a run at once (review finding: the outer
admission loop must not let an execution in twice)."""

from __future__ import annotations

from tests.executions.declarations import approval, commands, pipeline, s3_source, stage, unique
from tests.executions.stack import Stack


def test_a_run_that_fails_on_entry_lets_the_next_queued_run_in_once(stack: Stack) -> None:
    name, bucket = unique("e2e-admission"), unique("src")
    stack.put_source(bucket, "app.zip", {"a.txt": "a"})
    broken = pipeline(
        name,
        stage("Source", s3_source(bucket)),
        # A variable nobody defines: the action fails the moment its stage is entered.
        stage("Gate", approval(summary="#{Nope.Missing}")),
        mode="QUEUED",
    )
    client = stack.client()
    first = stack.create_pipeline(broken)
    stack.wait(name, first, "Failed")
    client.disable_stage_transition(
        pipelineName=name, stageName="Gate", transitionType="Inbound", reason="hold"
    )
    doomed = stack.start(name)  # pinned to the broken version
    stack.wait_for(
        f"{doomed} to wait at Gate",
        lambda: (
            doomed
            in [
                e["pipelineExecutionId"]
                for e in stack.state(name)["stageStates"][1].get("inboundExecutions") or []
            ]
        ),
    )
    fixed = dict(broken, version=1)
    fixed["stages"] = [broken["stages"][0], stage("Gate", commands("Gate", ["true"]))]
    client.update_pipeline(pipeline=fixed)
    healthy = stack.start(name)  # pinned to the fixed version, queued behind `doomed`
    stack.wait_for(
        f"{healthy} to wait at Gate",
        lambda: (
            healthy
            in [
                e["pipelineExecutionId"]
                for e in stack.state(name)["stageStates"][1].get("inboundExecutions") or []
            ]
        ),
    )

    # Entering Gate fails `doomed` at once, which lets `healthy` in from inside the same
    # admission pass; it must not be admitted a second time.
    client.enable_stage_transition(pipelineName=name, stageName="Gate", transitionType="Inbound")

    stack.wait(name, doomed, "Failed")
    stack.wait(name, healthy, "Succeeded")
    gate_runs = [r for r in stack.action_executions(name, healthy) if r["stageName"] == "Gate"]
    assert len(gate_runs) == 1
