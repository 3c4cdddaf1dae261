"""Timeouts, leases and fencing at the service level, on SQLite with a clock the test moves.

AWS's shortest action timeout is 5 minutes: too long for the end-to-end stacks, so these
drive the orchestrator, the runner and the reconciler directly.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from tests.executions.declarations import approval, commands, pipeline, s3_source, stage, unique

from stageline.actions.base import ActionContext, Failed, Outcome, Succeeded
from stageline.artifacts.folder import FolderStore
from stageline.domain.action_types import ActionTypeId
from stageline.domain.arns import Arns
from stageline.domain.errors import InvalidApprovalTokenException
from stageline.identity import Principal
from stageline.persistence import migrate
from stageline.persistence.db import Database
from stageline.persistence.models import ActionExecution, PipelineExecution
from stageline.services.executions import ExecutionService
from stageline.services.orchestrator import ExecutionSettings, Orchestrator
from stageline.services.pipelines import PipelineService
from stageline.services.reconciler import Reconciler
from stageline.services.runner import ActionRunner

LEASE = 30.0


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self.now

    def advance(self, **delta: float) -> None:
        with self._lock:
            self.now += timedelta(**delta)


class Recorder:
    """A dispatcher that only remembers what it was asked to run."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def dispatch_action(self, action_execution_id: str, *, delay_seconds: float = 0.0) -> None:
        self.sent.append(action_execution_id)

    def dispatch_build(self, build_id: str) -> None:
        self.sent.append(build_id)


Behaviour = Callable[[ActionContext], Outcome]


@dataclass
class Fake:
    """Every provider at once: what an action does is looked up by its name."""

    behaviours: dict[str, Behaviour] = field(default_factory=dict)

    def run(self, ctx: ActionContext) -> Outcome:
        behaviour = self.behaviours.get(ctx.action_name)
        return behaviour(ctx) if behaviour else Succeeded(summary="fake")

    def lookup(self, _type_id: ActionTypeId) -> Fake:
        return self


@dataclass
class Env:
    db: Database
    clock: Clock
    dispatcher: Recorder
    settings: ExecutionSettings
    provider: Fake
    runner: ActionRunner
    reconciler: Reconciler

    def create_and_start(self, declaration: dict[str, Any]) -> str:
        with self.db.unit_of_work() as uow:
            arns = Arns("us-east-1", "000000000000")
            PipelineService(uow.session, arns, clock=self.clock).create(declaration, [])
            return self.executions(uow).start(declaration["name"])

    def executions(self, uow: Any) -> ExecutionService:
        return ExecutionService(Orchestrator(uow, self.dispatcher, self.settings, self.clock))

    def run_dispatched(self) -> None:
        """Run what was dispatched, as a worker would, until nothing is left."""
        while self.dispatcher.sent:
            self.runner.run(self.dispatcher.sent.pop(0))

    def status(self, execution_id: str) -> str:
        with self.db.unit_of_work(write=False) as uow:
            row = uow.session.scalar(
                select(PipelineExecution).where(PipelineExecution.execution_id == execution_id)
            )
            assert row is not None
            return row.status

    def action(self, action_name: str) -> ActionExecution:
        with self.db.unit_of_work(write=False) as uow:
            rows = list(
                uow.session.scalars(
                    select(ActionExecution)
                    .where(ActionExecution.action_name == action_name)
                    .order_by(ActionExecution.pk)
                )
            )
            assert len(rows) == 1, rows
            return rows[0]


def make_env(tmp_path: Path, **settings: Any) -> Env:
    url = f"sqlite:///{tmp_path / 'stageline.db'}"
    migrate.upgrade(url)
    db = Database(url)
    clock, dispatcher, provider = Clock(), Recorder(), Fake()
    execution_settings = ExecutionSettings(lease_seconds=LEASE, **settings)
    runner = ActionRunner(
        db,
        dispatcher,
        FolderStore(tmp_path / "artifacts"),
        provider.lookup,
        execution_settings,
        tmp_path / "workspaces",
        "test-worker",
        clock,
    )
    reconciler = Reconciler(db, dispatcher, execution_settings, clock)
    return Env(db, clock, dispatcher, execution_settings, provider, runner, reconciler)


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    made = make_env(tmp_path, approval_timeout_minutes=120)
    yield made
    made.db.dispose()


def gated(timeout_minutes: int | None = None) -> dict[str, Any]:
    gate = approval("Approve", summary="ok?")
    if timeout_minutes is not None:
        gate["timeoutInMinutes"] = timeout_minutes
    return pipeline(
        unique("svc-approval"),
        stage("Source", s3_source("src")),
        stage("Gate", gate),
        stage("Ship", commands("Ship", ["true"])),
    )


def test_an_approval_fails_when_its_timeout_passes(env: Env) -> None:
    declaration = gated(timeout_minutes=5)
    execution_id = env.create_and_start(declaration)
    env.run_dispatched()  # the source
    started = env.clock()
    gate = env.action("Approve")
    assert gate.status == "InProgress"
    assert gate.timeout_at == started + timedelta(minutes=5)

    env.clock.advance(minutes=4, seconds=59)
    assert env.reconciler.run_once().timed_out == 0
    assert env.status(execution_id) == "InProgress"

    env.clock.advance(seconds=2)
    assert env.reconciler.run_once().timed_out == 1

    gate = env.action("Approve")
    assert (gate.status, gate.error_code) == ("Failed", "TimedOut")
    assert env.status(execution_id) == "Failed"
    assert env.dispatcher.sent == []  # nothing after the gate started
    assert gate.approval_token is not None
    with env.db.unit_of_work() as uow, pytest.raises(InvalidApprovalTokenException):
        env.executions(uow).put_approval(
            declaration["name"],
            "Gate",
            "Approve",
            gate.approval_token,
            "Approved",
            "too late",  # AWS: the token of an expired approval is no longer valid
            Principal("AKIATEST", "000000000000", "arn:aws:iam::000000000000:root"),
        )
    # A second pass finds nothing more to do.
    assert env.reconciler.run_once().timed_out == 0


def test_an_approval_without_a_timeout_gets_the_configured_one(env: Env) -> None:
    execution_id = env.create_and_start(gated())
    env.run_dispatched()
    gate = env.action("Approve")
    assert gate.timeout_at == env.clock() + timedelta(minutes=120)

    env.clock.advance(minutes=119)
    assert env.reconciler.run_once().timed_out == 0
    env.clock.advance(minutes=2)
    assert env.reconciler.run_once().timed_out == 1
    assert env.status(execution_id) == "Failed"


def build_pipeline(timeout_minutes: int = 5) -> dict[str, Any]:
    work = commands("Work", ["true"])
    work["timeoutInMinutes"] = timeout_minutes
    return pipeline(
        unique("svc-build"),
        stage("Source", s3_source("src")),
        stage("Build", work),
        stage("Ship", commands("Ship", ["true"])),
    )


def test_a_result_after_the_timeout_is_fenced_out(env: Env) -> None:
    def too_slow(ctx: ActionContext) -> Outcome:
        # While the worker "runs", the timeout passes and a reconciler pass fails the action.
        env.clock.advance(minutes=6)
        assert env.reconciler.run_once().timed_out == 1
        return Succeeded(summary="finished late")

    env.provider.behaviours["Work"] = too_slow
    execution_id = env.create_and_start(build_pipeline())
    env.run_dispatched()

    work = env.action("Work")
    assert (work.status, work.error_code, work.summary) == ("Failed", "TimedOut", None)
    assert env.status(execution_id) == "Failed"
    with env.db.unit_of_work(write=False) as uow:
        ship = uow.session.scalars(
            select(ActionExecution).where(ActionExecution.action_name == "Ship")
        ).all()
    assert ship == []


def test_an_expired_lease_is_taken_over_and_the_old_attempt_cannot_record(env: Env) -> None:
    second_started, release_second = threading.Event(), threading.Event()
    calls: list[int] = []
    takeover: list[threading.Thread] = []

    def work(ctx: ActionContext) -> Outcome:
        calls.append(len(calls) + 1)
        if len(calls) == 2:  # the attempt that took the lease over
            second_started.set()
            assert release_second.wait(10)
            return Succeeded(summary="second attempt", output_variables={"BY": "second"})
        # The first attempt's worker stalls past its lease: no heartbeat renewed it.
        env.clock.advance(seconds=LEASE + 1)
        assert env.reconciler.run_once().redispatched == 1
        redispatched = env.dispatcher.sent.pop()
        assert redispatched == ctx.action_execution_id
        thread = threading.Thread(target=env.runner.run, args=(redispatched,))
        takeover.append(thread)
        thread.start()
        assert second_started.wait(10)
        return Failed("the first attempt answers late")

    env.provider.behaviours["Work"] = work
    execution_id = env.create_and_start(build_pipeline(timeout_minutes=60))
    env.run_dispatched()  # Source, then the first attempt of Work (returns after the takeover)

    first_done = env.action("Work")
    assert first_done.status == "InProgress", "the fenced-out attempt recorded its result"
    assert first_done.lease_token == 2
    release_second.set()
    takeover[0].join(10)
    env.run_dispatched()  # Ship

    work_row = env.action("Work")
    assert (work_row.status, work_row.output_variables) == ("Succeeded", {"BY": "second"})
    assert calls == [1, 2]
    assert env.status(execution_id) == "Succeeded"
