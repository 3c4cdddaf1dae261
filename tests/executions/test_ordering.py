"""Who runs when: runOrder groups inside a stage, and the QUEUED and SUPERSEDED modes."""

from __future__ import annotations

import itertools
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests.executions.declarations import commands, pipeline, s3_source, stage, unique
from tests.executions.stack import Stack

STAMP_START = "export START=$(date +%s.%N)"
STAMP_END = "export END=$(date +%s.%N)"


def timed(name: str, seconds: float, run_order: int = 1) -> dict[str, Any]:
    """A Commands action reporting when its commands started and ended."""
    return commands(
        name,
        [STAMP_START, f"sleep {seconds}", STAMP_END],
        variables=["START", "END"],
        run_order=run_order,
    )


def stamps(stack: Stack, pipeline_name: str, execution_id: str) -> dict[str, tuple[float, float]]:
    """(start, end) of every succeeded timed action of one execution, by action name."""
    found = {}
    for row in stack.action_executions(pipeline_name, execution_id):
        variables = row["output"].get("outputVariables") or {}
        if row["status"] == "Succeeded" and "START" in variables:
            found[row["actionName"]] = (float(variables["START"]), float(variables["END"]))
    return found


def test_one_run_order_group_runs_in_parallel_before_the_next(stack: Stack) -> None:
    name, bucket = unique("e2e-parallel"), unique("src")
    stack.put_source(bucket, "app.zip", {"a.txt": "a"})
    declaration = pipeline(
        name,
        stage("Source", s3_source(bucket)),
        stage(
            "Build",
            timed("One", 1),
            timed("Two", 1),
            timed("Three", 1),
            timed("After", 0, run_order=2),
        ),
    )

    execution_id = stack.create_pipeline(declaration)
    stack.wait(name, execution_id, "Succeeded")

    times = stamps(stack, name, execution_id)
    group = [times[n] for n in ("One", "Two", "Three")]
    # The three intervals overlap: every one started before any ended.
    assert max(start for start, _ in group) < min(end for _, end in group), group
    # runOrder 2 starts only after the whole runOrder 1 group ended.
    assert times["After"][0] >= max(end for _, end in group), times


def test_queued_mode_takes_runs_through_a_stage_in_start_order(stack: Stack) -> None:
    name, bucket = unique("e2e-queued"), unique("src")
    stack.put_source(bucket, "app.zip", {"a.txt": "a"})
    declaration = pipeline(
        name,
        stage("Source", s3_source(bucket)),
        stage("Build", timed("Build", 1)),
        mode="QUEUED",
    )

    ids = [stack.create_pipeline(declaration)]
    ids += [stack.start(name) for _ in range(3)]
    for execution_id in ids:
        execution = stack.wait(name, execution_id, "Succeeded", timeout=60)
        assert execution["executionMode"] == "QUEUED"

    builds = [stamps(stack, name, execution_id)["Build"] for execution_id in ids]
    # One at a time through Build, in the order the runs were started.
    for earlier, later in itertools.pairwise(builds):
        assert later[0] >= earlier[1], builds


def test_superseded_mode_lets_the_newest_waiting_run_through(stack: Stack) -> None:
    name, bucket = unique("e2e-superseded"), unique("src")
    declaration = pipeline(
        name,
        stage("Source", s3_source(bucket)),
        stage("Build", timed("Build", 3)),
    )
    # The first run (CreatePipeline's) fails at once: there is no source object yet.
    created = stack.create_pipeline(declaration)
    failed = stack.wait(name, created, "Failed")
    assert "app.zip" in failed["statusSummary"]
    stack.put_source(bucket, "app.zip", {"a.txt": "a"})

    first, middle, newest = (stack.start(name) for _ in range(3))

    assert stack.wait(name, first, "Succeeded")["executionMode"] == "SUPERSEDED"
    superseded = stack.wait(name, middle, "Superseded")
    assert newest in superseded["statusSummary"]
    stack.wait(name, newest, "Succeeded")
    ran_build = {
        row["pipelineExecutionId"]
        for row in stack.action_executions(name)
        if row["stageName"] == "Build"
    }
    assert ran_build == {first, newest}


def test_parallel_mode_runs_executions_side_by_side(stack: Stack) -> None:
    name, bucket = unique("e2e-parallel-mode"), unique("src")
    stack.put_source(bucket, "app.zip", {"a.txt": "a"})
    declaration = pipeline(
        name,
        stage("Source", s3_source(bucket)),
        stage("Build", timed("Build", 1.5)),
        mode="PARALLEL",
    )

    ids = [stack.create_pipeline(declaration), stack.start(name), stack.start(name)]
    for execution_id in ids:
        assert stack.wait(name, execution_id, "Succeeded")["executionMode"] == "PARALLEL"

    builds = [stamps(stack, name, execution_id)["Build"] for execution_id in ids]
    # Nobody waited for the stage: every run was in Build while every other one was.
    assert max(start for start, _ in builds) < min(end for _, end in builds), builds


def test_many_runs_at_once_all_succeed(stack: Stack) -> None:
    """Concurrent API calls and many attempts in flight: no lost or stuck run, no lock error."""
    names = [unique("e2e-load") for _ in range(6)]

    def create_and_start(name: str) -> list[str]:
        bucket = unique("src")
        stack.put_source(bucket, "app.zip", {"a.txt": "a"})
        declaration = pipeline(
            name,
            stage("Source", s3_source(bucket)),
            stage("Build", *(commands(f"Work{i}", ["sleep 0.3"]) for i in range(3))),
            stage("Post", commands("Post", ["true"])),
            mode="PARALLEL",
        )
        return [stack.create_pipeline(declaration), stack.start(name), stack.start(name)]

    with ThreadPoolExecutor(max_workers=len(names)) as pool:
        runs = dict(zip(names, pool.map(create_and_start, names), strict=True))

    for name, ids in runs.items():
        for execution_id in ids:
            stack.wait(name, execution_id, "Succeeded", timeout=90)
        counted = Counter((r["actionName"], r["status"]) for r in stack.action_executions(name))
        assert counted == {
            (action, "Succeeded"): 3 for action in ("Source", "Work0", "Work1", "Work2", "Post")
        }
