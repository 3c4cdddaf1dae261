"""The worker side of an action attempt: claim a lease, run the provider, record the result.

The claim is a conditional UPDATE that bumps the fencing token, so of two workers handed the
same message only one runs it; a heartbeat extends the lease while the provider works, and
losing it (abandon, timeout, another worker after expiry) cancels the provider. Only the
holder of the current token may record a result.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.exc import DBAPIError

from stageline.actions.base import (
    ActionContext,
    ActionProvider,
    AwaitingJob,
    Failed,
    InProgress,
    InputArtifact,
    Outcome,
    OutputArtifact,
    Succeeded,
)
from stageline.artifacts.base import ObjectRef, ObjectStore
from stageline.domain.action_types import ActionTypeId
from stageline.domain.status import ActionStatus
from stageline.persistence.db import Database
from stageline.persistence.models import ActionExecution, ActionLog, Pipeline, PipelineExecution
from stageline.services.action_logs import FLUSH_SECONDS, DbLogSink
from stageline.services.orchestrator import ExecutionSettings, Orchestrator
from stageline.services.ports import Clock, Dispatcher, utcnow

log = logging.getLogger("stageline.runner")
ProviderLookup = Callable[[ActionTypeId], ActionProvider | None]


@dataclass(frozen=True)
class Claim:
    pk: int
    token: int
    pipeline_id: int
    action_execution_id: str
    pipeline_name: str
    execution_id: str
    stage_name: str
    action_name: str
    input: dict[str, Any]
    outputs: list[dict[str, Any]]
    continuation: dict[str, Any] | None
    timeout_seconds: float


class ActionRunner:
    def __init__(
        self,
        db: Database,
        dispatcher: Dispatcher,
        store: ObjectStore,
        providers: ProviderLookup,
        settings: ExecutionSettings,
        workspace_root: Path,
        worker_id: str,
        clock: Clock = utcnow,
    ) -> None:
        self.db, self.dispatcher, self.store = db, dispatcher, store
        self.providers, self.settings, self.clock = providers, settings, clock
        self.workspace_root, self.worker_id = workspace_root, worker_id
        self._running: dict[int, threading.Event] = {}
        self._stopping = threading.Event()

    def run(self, action_execution_id: str) -> bool:
        """Run one attempt if its lease can be taken; False when there was nothing to do."""
        if self._stopping.is_set():
            return False
        claim = self._claim(action_execution_id)
        if claim is None:
            return False
        cancelled = threading.Event()
        self._running[claim.pk] = cancelled
        sink = DbLogSink.for_action(self.db, claim.pk, self.clock)
        beat = _Heartbeat(self, claim, cancelled, sink)
        workspace = self.workspace_root / claim.action_execution_id / str(claim.token)
        beat.start()
        try:
            try:
                outcome = self._execute(claim, sink, cancelled, workspace)
            except Exception as exc:  # a provider bug must still end the action, not hang it
                log.exception("action %s crashed", action_execution_id)
                sink.write(f"\n[stageline] the action failed inside Stageline: {exc}\n")
                outcome = Failed(f"Stageline could not run the action: {exc}")
            finally:
                _remove_workspace(workspace)
            if self._stopping.is_set():
                self._release(claim)  # shutting down: the next start runs it again
            else:
                # The lease is kept (heartbeat running) until the result is committed.
                self._complete_with_retries(claim, outcome, sink.take())
        finally:
            beat.stop()
            self._running.pop(claim.pk, None)
        return True

    def stop(self) -> None:
        """Process shutdown: cancel running providers (they kill their process groups) and
        hand their attempts back rather than recording a failure nobody asked for."""
        self._stopping.set()
        for cancelled in list(self._running.values()):
            cancelled.set()
        deadline = time.monotonic() + 15  # the providers' kill grace, and then some
        while self._running and time.monotonic() < deadline:
            time.sleep(0.05)

    def _release(self, claim: Claim) -> None:
        with self.db.unit_of_work() as uow:
            uow.session.execute(
                update(ActionExecution)
                .where(ActionExecution.pk == claim.pk, ActionExecution.lease_token == claim.token)
                .values(lease_expires_at=None, dispatched_at=None)
                .execution_options(synchronize_session=False)
            )

    def _complete_with_retries(self, claim: Claim, outcome: Outcome, last_log: str) -> None:
        # Guarded by the fencing token, so repeating it is safe; a deadlock victim or a dropped
        # connection must not throw away a finished (perhaps hour-long) attempt.
        for attempt in range(3):
            try:
                self._complete(claim, outcome, last_log)
                return
            except DBAPIError:
                if attempt == 2:
                    raise
                log.warning("recording the result of %s failed; retrying", claim.pk, exc_info=True)
                time.sleep(0.2 * (attempt + 1))

    def _claim(self, action_execution_id: str) -> Claim | None:
        now = self.clock()
        with self.db.unit_of_work() as uow:
            taken = uow.session.execute(
                update(ActionExecution)
                .where(
                    ActionExecution.action_execution_id == action_execution_id,
                    unheld(now),
                    or_(
                        ActionExecution.next_check_at.is_(None),
                        ActionExecution.next_check_at <= now,
                    ),
                )
                .values(
                    lease_token=ActionExecution.lease_token + 1,
                    lease_expires_at=now + Orchestrator.lease_for(self.settings),
                    worker_id=self.worker_id,
                )
                .returning(ActionExecution)
                .execution_options(synchronize_session=False)
            )
            row = taken.scalar_one_or_none()
            if row is None:
                return None  # finished, or another worker holds the lease
            return self._claim_of(uow.session, row, now)

    def _claim_of(self, session: Any, row: ActionExecution, now: Any) -> Claim:
        execution = session.execute(
            select(
                PipelineExecution.execution_id, PipelineExecution.source_overrides, Pipeline.name
            )
            .join(Pipeline, Pipeline.id == PipelineExecution.pipeline_id)
            .where(PipelineExecution.pk == row.execution_pk)
        ).one()
        continuation = row.continuation
        for override in execution.source_overrides:
            if override["actionName"] == row.action_name and continuation is None:
                continuation = _override_continuation(override)
        return Claim(
            pk=row.pk,
            token=row.lease_token,
            pipeline_id=row.pipeline_id,
            action_execution_id=row.action_execution_id,
            pipeline_name=execution.name,
            execution_id=execution.execution_id,
            stage_name=row.stage_name,
            action_name=row.action_name,
            input=dict(row.input),
            outputs=list(row.output_artifacts),
            continuation=continuation,
            timeout_seconds=max(0.0, (row.timeout_at - now).total_seconds()),
        )

    def _execute(
        self, claim: Claim, sink: DbLogSink, cancelled: threading.Event, workspace: Path
    ) -> Outcome:
        type_id = ActionTypeId(**claim.input["actionTypeId"])
        provider = self.providers(type_id)
        if provider is None:
            return Failed(
                f"Stageline has no provider for {type_id.category}/{type_id.owner}/"
                f"{type_id.provider}/{type_id.version} yet.",
                code="ConfigurationError",
            )
        secret_vars = [
            v["name"]
            for v in claim.input.get("environmentVariables", [])
            if v.get("type", "PLAINTEXT") != "PLAINTEXT"
        ]
        if secret_vars:
            return Failed(
                "PARAMETER_STORE and SECRETS_MANAGER environment variables are not supported by "
                f"this action yet: {', '.join(secret_vars)}.",
                code="ConfigurationError",
            )
        missing = [i["name"] for i in claim.input["inputArtifacts"] if not i.get("s3location")]
        if missing:
            return Failed(f"Input artifacts not found: {', '.join(missing)}.")
        workspace.mkdir(parents=True, exist_ok=True)
        # The artifact store is Stageline's own: make its bucket on first use.
        for bucket in sorted({o["s3location"]["bucket"] for o in claim.outputs}):
            self.store.ensure_bucket(bucket)
        env = {
            v["name"]: v["value"]
            for v in claim.input.get("environmentVariables", [])
            if v.get("type", "PLAINTEXT") == "PLAINTEXT"
        }
        ctx = ActionContext(
            pipeline_name=claim.pipeline_name,
            pipeline_execution_id=claim.execution_id,
            stage_name=claim.stage_name,
            action_name=claim.action_name,
            action_execution_id=claim.action_execution_id,
            type_id=type_id,
            configuration=claim.input.get("resolvedConfiguration", {}),
            inputs=[
                InputArtifact(i["name"], ObjectRef(**i["s3location"]))
                for i in claim.input["inputArtifacts"]
            ],
            outputs=[
                OutputArtifact(o["name"], ObjectRef(**o["s3location"]), tuple(o.get("files") or ()))
                for o in claim.outputs
            ],
            store=self.store,
            workspace=workspace,
            log=sink,
            timeout_seconds=claim.timeout_seconds,
            cancelled=cancelled.is_set,
            commands=claim.input.get("commands", []),
            output_variable_names=claim.input.get("outputVariableNames", []),
            namespace=claim.input.get("namespace"),
            continuation=claim.continuation,
            environment=env,
        )
        return provider.run(ctx)

    def _complete(self, claim: Claim, outcome: Outcome, last_log: str) -> None:
        with self.db.unit_of_work() as uow:
            o = Orchestrator(uow, self.dispatcher, self.settings, self.clock)
            if o.find_pipeline(claim.pipeline_id) is None:
                return  # the pipeline was deleted meanwhile
            row = uow.session.get(ActionExecution, claim.pk, populate_existing=True)
            if row is None:
                return
            if last_log:  # the log's tail goes in with the result: one transaction, not two
                uow.session.add(ActionLog(action_pk=claim.pk, text=last_log, at=self.clock()))
            if row.status != ActionStatus.IN_PROGRESS or row.lease_token != claim.token:
                return  # finished meanwhile, or fenced out by another attempt
            _apply(o, row, outcome)


def unheld(now: datetime) -> ColumnElement[bool]:
    """An attempt a worker may take: still running, not an approval, not waiting on a job, and
    no live lease. The claim and the reconciler share this one definition of "nobody holds it"."""
    return and_(
        ActionExecution.status == ActionStatus.IN_PROGRESS,
        ActionExecution.approval_token.is_(None),
        ActionExecution.awaits_job.is_(False),
        or_(ActionExecution.lease_expires_at.is_(None), ActionExecution.lease_expires_at < now),
    )


def _remove_workspace(workspace: Path) -> None:
    """This attempt's directory only: a newer attempt of the same action may be using its own
    sibling directory on this host."""
    shutil.rmtree(workspace, ignore_errors=True)
    with contextlib.suppress(OSError):
        workspace.parent.rmdir()  # only when empty


def _override_continuation(override: dict[str, str]) -> dict[str, Any]:
    """StartPipelineExecution's sourceRevisions, in the form source providers read."""
    if override["revisionType"] == "S3_OBJECT_KEY":
        return {"objectKey": override["revisionValue"]}
    pinned = {"revisionId": override["revisionValue"]}
    if override.get("branchName"):  # a trigger's push to another branch than BranchName
        pinned["branchName"] = override["branchName"]
    return pinned


def _apply(o: Orchestrator, row: ActionExecution, outcome: Outcome) -> None:
    if isinstance(outcome, AwaitingJob):
        row.awaits_job = True
        row.summary = outcome.summary or row.summary
        row.lease_expires_at = None
        return
    if isinstance(outcome, InProgress):
        row.continuation = dict(outcome.continuation)
        row.summary = outcome.summary or row.summary
        row.lease_expires_at = None
        row.next_check_at = o.clock() + _seconds(outcome.check_after_seconds)
        row.dispatched_at = row.next_check_at
        o.after_commit_dispatch(row.action_execution_id, outcome.check_after_seconds)
        return
    row.summary = outcome.summary
    row.external_execution_id = outcome.external_execution_id
    if isinstance(outcome, Succeeded):
        row.output_variables = dict(outcome.output_variables)
        row.external_execution_url = outcome.external_execution_url
        if outcome.revision is not None:
            r = outcome.revision
            row.revision = {
                "revisionId": r.revision_id,
                "revisionChangeId": r.change_id,
                "created": r.created.timestamp() if r.created else None,
                "summary": r.summary,
                "url": r.url,
            }
        o.finish_action(row, ActionStatus.SUCCEEDED)
    else:
        row.error_code, row.error_message = outcome.code, outcome.message[:5000]
        o.finish_action(row, ActionStatus.FAILED)


def _seconds(value: float) -> Any:
    from datetime import timedelta

    return timedelta(seconds=value)


class _Heartbeat:
    """Extends the lease every third of its length; a lost lease cancels the provider."""

    def __init__(
        self, runner: ActionRunner, claim: Claim, cancelled: threading.Event, sink: DbLogSink
    ) -> None:
        self.runner, self.claim, self.cancelled, self.sink = runner, claim, cancelled, sink
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="heartbeat")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        interval = max(0.2, self.runner.settings.lease_seconds / 3)
        next_beat = time.monotonic() + interval
        # Wake at the log's flush pace, so a line printed before a quiet spell (`echo; sleep`)
        # reaches followers at once rather than at the next beat; extend every `interval`.
        while not self._stop.wait(min(FLUSH_SECONDS, interval)):
            try:
                self.sink.flush()
                if time.monotonic() < next_beat:
                    continue
                next_beat = time.monotonic() + interval
                if not self._extend():
                    self.cancelled.set()
                    return
            except Exception:  # a database hiccup: try again next beat; the lease decides
                log.warning(
                    "heartbeat for %s failed", self.claim.action_execution_id, exc_info=True
                )

    def _extend(self) -> bool:
        runner, now = self.runner, self.runner.clock()
        with runner.db.unit_of_work() as uow:
            kept = uow.session.execute(
                update(ActionExecution)
                .where(
                    ActionExecution.pk == self.claim.pk,
                    ActionExecution.lease_token == self.claim.token,
                    ActionExecution.status == ActionStatus.IN_PROGRESS,
                )
                .values(lease_expires_at=now + Orchestrator.lease_for(runner.settings))
                .execution_options(synchronize_session=False)
            )
            return bool(kept.rowcount == 1)  # type: ignore[attr-defined]
