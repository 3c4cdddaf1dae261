"""The worker side of StartBuild: claim the build with a lease, run it, record the end.

As with action attempts, the claim is a conditional UPDATE that bumps a fencing token, a
heartbeat extends the lease (and notices StopBuild), and only the holder of the current token
records the result. A build claimed a second time was started by a worker that died: it is
not run twice (a build has side effects), it ends FAULT, as CodeBuild ends a build its host lost.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update

from stageline.artifacts.base import ObjectRef
from stageline.persistence.db import Database
from stageline.persistence.models import ActionExecution, Build
from stageline.services.action_logs import FLUSH_SECONDS, DbLogSink
from stageline.services.build_execution import (
    BuildExecution,
    BuildJob,
    BuildResult,
    SourceInput,
    timeout_of,
)
from stageline.services.build_outputs import OutputTarget
from stageline.services.build_phases import say
from stageline.services.ports import Clock, utcnow

log = logging.getLogger("stageline.builds")


class BuildRunner:
    def __init__(
        self,
        db: Database,
        execution: BuildExecution,
        lease_seconds: float,
        worker_id: str,
        clock: Clock = utcnow,
    ) -> None:
        self.db, self.execution, self.clock = db, execution, clock
        self.lease = timedelta(seconds=lease_seconds)
        self.worker_id = worker_id
        self._running: dict[int, threading.Event] = {}
        self._stopping = threading.Event()

    def run(self, build_id: str) -> bool:
        """Run a standalone build if its lease can be taken; False when there was nothing to do."""
        if self._stopping.is_set():
            return False
        row = self._claim(build_id)
        if row is None:
            return False
        sink = DbLogSink.for_build(self.db, row.pk, self.clock)
        if row.lease_token > 1 or row.stop_requested:
            self._end_unstarted(row, sink)
            return True
        job = job_of(row)
        beat = _Heartbeat(self, row.pk, row.lease_token, sink)
        self._running[row.pk] = beat.stopped
        beat.start()
        try:
            say(sink, f"Running on worker {self.worker_id}")
            result = self._execute(job, sink, beat.stopped.is_set)
            if self._stopping.is_set():
                say(sink, "The worker shut down: the build was stopped")
            sink.flush()
            self.record(row.pk, result, row.lease_token)
        finally:
            beat.stop()
            self._running.pop(row.pk, None)
        return True

    def stop(self) -> None:
        """Process shutdown: stop running builds (their process groups are killed) and record
        them STOPPED — a build is not handed back to run a second time."""
        self._stopping.set()
        for stopped in list(self._running.values()):
            stopped.set()
        deadline = time.monotonic() + 15
        while self._running and time.monotonic() < deadline:
            time.sleep(0.05)

    def _end_unstarted(self, row: Build, sink: DbLogSink) -> None:
        """Stopped before a worker took it, or taken before by a worker that died."""
        if row.stop_requested:
            say(sink, "Build stopped before it started")
            result = BuildResult("STOPPED", "stopped before it started", phases=row.phases)
        else:
            say(sink, "The worker running this build was lost; a build is not run twice")
            result = BuildResult(
                "FAULT", "the worker running the build was lost", phases=row.phases
            )
        sink.flush()
        self.record(row.pk, result, row.lease_token)

    def _execute(
        self, job: BuildJob, sink: DbLogSink, cancelled: Callable[[], bool]
    ) -> BuildResult:
        try:
            return self.execution.execute(job, sink, cancelled)
        except Exception as exc:  # a bug of ours must still end the build, not hang it
            log.exception("build %s crashed", job.build_id)
            say(sink, f"Stageline could not run the build: {exc}")
            return BuildResult("FAULT", f"Stageline could not run the build: {exc}")

    def record(self, pk: int, result: BuildResult, token: int | None = None) -> None:
        """The end of a build, once: only while IN_PROGRESS (and for the lease holder)."""
        guard = [Build.pk == pk, Build.status == "IN_PROGRESS"]
        if token is not None:
            guard.append(Build.lease_token == token)
        values: dict[str, Any] = {
            "status": result.status,
            "current_phase": "COMPLETED",
            "ended_at": self.clock(),
            "exported_variables": [{"name": k, "value": v} for k, v in result.exported.items()],
            "outputs": result.outputs,
            "resolved_source_version": result.resolved_source_version,
            "lease_expires_at": None,
        }
        if result.phases:
            values["phases"] = result.phases
        with self.db.unit_of_work() as uow:
            uow.session.execute(
                update(Build)
                .where(*guard)
                .values(**values)
                .execution_options(synchronize_session=False)
            )

    def _claim(self, build_id: str) -> Build | None:
        now = self.clock()
        with self.db.unit_of_work() as uow:
            taken = uow.session.execute(
                update(Build)
                .where(Build.build_id == build_id, unheld_build(now))
                .values(
                    lease_token=Build.lease_token + 1,
                    lease_expires_at=now + self.lease,
                    worker_id=self.worker_id,
                )
                .returning(Build)
                .execution_options(synchronize_session=False)
            )
            return taken.scalar_one_or_none()


def unheld_build(now: Any) -> Any:
    """A standalone build a worker may take: running, and no live lease on it."""
    return and_(
        Build.status == "IN_PROGRESS",
        Build.in_pipeline.is_(False),
        or_(Build.lease_expires_at.is_(None), Build.lease_expires_at < now),
    )


def orphaned_pipeline_builds(now: Any) -> Any:
    """Pipeline builds whose action attempt is over or whose worker died: they end FAULT."""
    live = (
        select(ActionExecution.pk)
        .where(
            ActionExecution.status == "InProgress",
            ActionExecution.lease_expires_at.is_not(None),
            ActionExecution.lease_expires_at >= now,
        )
        .scalar_subquery()
    )
    return and_(
        Build.status == "IN_PROGRESS",
        Build.in_pipeline.is_(True),
        or_(Build.action_pk.is_(None), Build.action_pk.not_in(live)),
    )


def job_of(row: Build) -> BuildJob:
    """A standalone build's job: its S3 sources and S3 artifact targets."""
    doc = row.document
    sources = [_source(None, doc.get("source") or {}, row.source_version)]
    versions = {
        v["sourceIdentifier"]: v["sourceVersion"] for v in doc.get("secondarySourceVersions") or []
    }
    for source in doc.get("secondarySources") or []:
        ident = source["sourceIdentifier"]
        sources.append(_source(ident, source, versions.get(ident)))
    outputs = [
        t
        for t in [_target(row, None, doc.get("artifacts") or {})]
        + [_target(row, a["artifactIdentifier"], a) for a in doc.get("secondaryArtifacts") or []]
        if t is not None
    ]
    return BuildJob(
        pk=row.pk,
        build_id=row.build_id,
        project_name=row.project_name,
        build_number=row.build_number,
        initiator=row.initiator,
        document=doc,
        source_version=row.source_version,
        phases=list(row.phases),
        started_at=row.started_at,
        sources=sources,
        outputs=outputs,
        timeout_seconds=timeout_of(doc),
    )


def _source(ident: str | None, source: dict[str, Any], version: str | None) -> SourceInput:
    if source.get("type") != "S3":
        return SourceInput(ident, None)
    bucket, _, key = source["location"].partition("/")
    return SourceInput(ident, ObjectRef(bucket, key), version)


def _target(row: Build, ident: str | None, artifacts: dict[str, Any]) -> OutputTarget | None:
    if artifacts.get("type") != "S3":
        return None
    parts = [artifacts.get("path") or ""]
    if artifacts.get("namespaceType") == "BUILD_ID":
        parts.append(row.build_id.split(":", 1)[1])
    parts.append(artifacts.get("name") or ident or row.project_name)
    key = "/".join(p.strip("/") for p in parts if p.strip("/"))
    return OutputTarget(
        ident,
        ObjectRef(artifacts["location"], key),
        artifacts.get("packaging") or "NONE",
        bool(artifacts.get("overrideArtifactName")),
    )


class _Heartbeat:
    """Flushes the log, extends the lease, and turns StopBuild (or a lost lease) into a stop."""

    def __init__(self, runner: BuildRunner, pk: int, token: int, sink: DbLogSink) -> None:
        self.runner, self.pk, self.token, self.sink = runner, pk, token, sink
        self.stopped = threading.Event()
        self._end = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="build-heartbeat")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._end.set()
        self._thread.join()

    def _loop(self) -> None:
        interval = max(0.2, self.runner.lease.total_seconds() / 3)
        next_beat = time.monotonic() + min(1.0, interval)
        while not self._end.wait(FLUSH_SECONDS):
            try:
                self.sink.flush()
                if time.monotonic() >= next_beat:
                    next_beat = time.monotonic() + min(1.0, interval)
                    if not self._extend():
                        self.stopped.set()
            except Exception:  # a database hiccup: the next beat tries again
                log.warning("heartbeat of build %s failed", self.pk, exc_info=True)

    def _extend(self) -> bool:
        runner = self.runner
        with runner.db.unit_of_work() as uow:
            row = uow.session.execute(
                update(Build)
                .where(Build.pk == self.pk, Build.lease_token == self.token)
                .values(lease_expires_at=runner.clock() + runner.lease)
                .returning(Build.stop_requested, Build.status)
                .execution_options(synchronize_session=False)
            ).one_or_none()
        return row is not None and not row.stop_requested and row.status == "IN_PROGRESS"
