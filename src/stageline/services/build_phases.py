"""A build's phase list in the database, kept current while it runs so BatchGetBuilds shows
where a build is (currentPhase, phases with times and contexts)."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from sqlalchemy import update

from stageline.builds.model import LogSink, PhaseRecord
from stageline.persistence.db import Database
from stageline.persistence.models import Build

CONTAINER = "[Container]"


def say(log: LogSink, message: str) -> None:
    """A line in CodeBuild's own log format, so log readers written for CodeBuild still work."""
    stamp = datetime.now().strftime("%Y/%m/%d %H:%M:%S.%f")
    log.write(f"{CONTAINER} {stamp} {message}\n")


class PhaseBook:
    """The phases of one build, written through to its row at each change."""

    def __init__(self, db: Database, build_pk: int, phases: list[dict[str, Any]]) -> None:
        self.db, self.build_pk = db, build_pk
        self.phases = [dict(p) for p in phases]

    def start(self, phase_type: str) -> None:
        self._close_open("SUCCEEDED")
        self.phases.append({"phaseType": phase_type, "startTime": time.time()})
        self._save(phase_type)

    def end(self, status: str, code: str | None = None, message: str | None = None) -> None:
        self._close_open(status, code, message)
        self._save(None)

    def record(self, record: PhaseRecord) -> None:
        """The engine's report of a buildspec phase starting (status None) or ending."""
        if record.status is None:
            self._close_open("SUCCEEDED")
            self.phases.append(
                {"phaseType": record.phase_type, "startTime": record.start.timestamp()}
            )
            self._save(record.phase_type)
            return
        code = None if record.status == "SUCCEEDED" else _context_code(record.status)
        self._close_open(record.status, code, record.message, record.end)
        self._save(None)

    def complete(self) -> None:
        now = time.time()
        self._close_open("SUCCEEDED")
        self.phases.append({"phaseType": "COMPLETED", "startTime": now})

    def _close_open(
        self,
        status: str,
        code: str | None = None,
        message: str | None = None,
        end: datetime | None = None,
    ) -> None:
        if not self.phases or "endTime" in self.phases[-1]:
            return
        phase = self.phases[-1]
        ended = end.timestamp() if end is not None else time.time()
        phase.update(
            endTime=ended,
            durationInSeconds=int(ended - phase["startTime"]),
            phaseStatus=status,
        )
        if code or message:
            phase["contexts"] = [{"statusCode": code or status, "message": message or ""}]

    def _save(self, current: str | None) -> None:
        values: dict[str, Any] = {"phases": self.phases}
        if current is not None:
            values["current_phase"] = current
        with self.db.unit_of_work() as uow:
            uow.session.execute(
                update(Build)
                .where(Build.pk == self.build_pk, Build.status == "IN_PROGRESS")
                .values(**values)
                .execution_options(synchronize_session=False)
            )


def _context_code(status: str) -> str:
    return {
        "FAILED": "COMMAND_EXECUTION_ERROR",
        "TIMED_OUT": "BUILD_TIMED_OUT",
        "STOPPED": "BUILD_STOPPED",
    }.get(status, status)
