"""Production only: a worker killed mid-action and a broker that loses every message cost
time, never an execution (leases, fencing tokens and the reconciler put the work back)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from tests.executions.declarations import commands, pipeline, s3_source, stage, unique
from tests.executions.stack import Stack
from tests.support.shared import shared_dir

pytestmark = pytest.mark.production_only


def lines(path: Path) -> int:
    try:
        return len(path.read_text().splitlines())
    except FileNotFoundError:
        return 0


def test_an_action_of_a_killed_worker_runs_again_after_its_lease(stack: Stack) -> None:
    name, bucket = unique("e2e-kill"), unique("src")
    runs = shared_dir() / f"{name}.runs"
    stack.put_source(bucket, "app.zip", {"a.txt": "a"})
    declaration = pipeline(
        name,
        stage("Source", s3_source(bucket)),
        stage(
            "Build",
            commands(
                "Work", [f"echo $$ >> {runs}", "sleep 4", "export DONE=yes"], variables=["DONE"]
            ),
        ),
    )
    execution_id = stack.create_pipeline(declaration)
    stack.wait_for("the action to start", lambda: lines(runs) == 1)
    work = next(r for r in stack.action_executions(name, execution_id) if r["actionName"] == "Work")
    holder = stack.worker_of(work["actionExecutionId"])
    assert holder is not None, "the lease row does not name a live worker"

    stack.kill_worker(holder)
    stack.start_worker()  # keep two workers for the tests after this one

    execution = stack.wait(name, execution_id, "Succeeded", timeout=60)
    assert execution["status"] == "Succeeded"
    # The commands ran again, on a worker that took the expired lease; one action execution.
    assert lines(runs) == 2
    rows = [r for r in stack.action_executions(name, execution_id) if r["actionName"] == "Work"]
    assert [(r["actionExecutionId"], r["status"]) for r in rows] == [
        (work["actionExecutionId"], "Succeeded")
    ]
    assert rows[0]["output"]["outputVariables"] == {"DONE": "yes"}
    assert stack.worker_of(work["actionExecutionId"]) != holder


def test_every_run_succeeds_when_the_broker_restarts_empty(stack: Stack) -> None:
    # 4 runs x 3 parallel actions = 12 attempts for 8 worker threads: some wait in the queue.
    names = [unique("e2e-broker") for _ in range(4)]
    started = shared_dir() / f"{names[0]}.started"
    ids = {}
    for name in names:
        bucket = unique("src")
        stack.put_source(bucket, "app.zip", {"a.txt": "a"})
        actions = [commands(f"Work{i}", [f"echo . >> {started}", "sleep 2"]) for i in range(3)]
        declaration = pipeline(name, stage("Source", s3_source(bucket)), stage("Build", *actions))
        ids[name] = stack.create_pipeline(declaration)
    broker = stack.broker
    assert broker is not None

    def running_and_queued() -> bool:
        return lines(started) >= 4 and broker.queue_length() > 0

    # Restart while some attempts run and others wait in the queue: those messages are lost.
    stack.wait_for("attempts running and queued at once", running_and_queued, timeout=30)
    # The fresh redis-server keeps nothing on disk, so the queued messages are gone. No check
    # of the queue here: a source finishing or the reconciler may enqueue again at any moment.
    stack.restart_broker()

    for name, execution_id in ids.items():
        stack.wait(name, execution_id, "Succeeded", timeout=60)
        runs = Counter(
            r["actionName"]
            for r in stack.action_executions(name, execution_id)
            if r["status"] == "Succeeded"
        )
        assert runs == {"Source": 1, "Work0": 1, "Work1": 1, "Work2": 1}
    # The new broker carries new work as well.
    name = names[0]
    again = stack.start(name)
    stack.wait(name, again, "Succeeded", timeout=60)
    assert len(stack.live_workers()) >= 2
