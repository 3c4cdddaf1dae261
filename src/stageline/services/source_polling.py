"""Change detection by polling: S3 sources with PollForSourceChanges and git sources with
DetectChanges (both true unless set to "false", AWS's default), every
STAGELINE_SOURCE_POLL_INTERVAL seconds, in each process that runs the reconciler.

One execution per new revision: the revision last seen is kept per source action
(`source_watches`) and moved only by a conditional UPDATE from the value this pass read, so
of several worker processes polling at once exactly one starts the run; a commit that a git
event already started is not started again. The first observation of a source (right after
CreatePipeline, whose own run covers it) only records the revision. A git source with a V2
trigger is polled on its BranchName and the change is run through the trigger's filters.

A source that cannot be read is logged in one line (again only when its error changes) and
tried again next pass; when the changed files cannot be learnt (the recorded commit is no
longer in the repository), they count as unknown, which every file-path filter lets through.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from stageline.artifacts.base import ObjectNotFound, ObjectStore
from stageline.domain.errors import ServiceError
from stageline.domain.git_events import push_event
from stageline.domain.triggers import decide, detects_changes, trigger_for
from stageline.persistence.db import Database
from stageline.services import git_access
from stageline.services.orchestrator import ExecutionSettings
from stageline.services.periodic import PeriodicThread
from stageline.services.ports import Dispatcher
from stageline.services.secret_box import SecretBox
from stageline.services.triggering import SourceRef, SourceWatches, Starter, source_actions
from stageline.settings import Settings

log = logging.getLogger(__name__)
TRIGGER = "PollForSourceChanges"


@dataclass
class Watched:
    ref: SourceRef
    seen: bool  # a revision was recorded before
    revision: str | None
    remote: Any = None  # git_access.GitRemote for git sources


def pollable(ref: SourceRef) -> bool:
    type_id = ref.action["actionTypeId"]
    if (type_id["owner"], type_id["provider"]) == ("AWS", "S3"):
        return detects_changes(ref.configuration, "PollForSourceChanges")
    if type_id["provider"] == "CodeStarSourceConnection":
        return trigger_for(ref.declaration, ref.name) is not None or detects_changes(
            ref.configuration, "DetectChanges"
        )
    return False


class SourcePoller:
    def __init__(self, db: Database, starter: Starter, store: ObjectStore, box: SecretBox) -> None:
        self.db = db
        self.starter = starter
        self.store = store
        self.box = box
        self._failing: dict[tuple[int, str], str] = {}  # the error last logged per source

    def poll_once(self) -> list[str]:
        """One pass over every pollable source; the executions it started."""
        started: list[str] = []
        for item in self._watched():
            key = (item.ref.pipeline_id, item.ref.name)
            try:
                revision = self._head(item)
                if revision is not None and not (item.seen and revision == item.revision):
                    started += self._record(item, revision)
                self._failing.pop(key, None)
            except (git_access.GitError, ServiceError) as exc:  # expected: log it, go on
                self._failed(item, key, str(exc).splitlines()[-1] if str(exc) else "", False)
            except Exception as exc:  # one source's bug must not stop the others
                self._failed(item, key, f"{type(exc).__name__}: {exc}", True)
        return started

    def _failed(self, item: Watched, key: tuple[int, str], why: str, trace: bool) -> None:
        """One line per source and distinct error (a traceback only for unexpected ones), not
        one every pass."""
        if self._failing.get(key) == why:
            return
        self._failing[key] = why
        where = f"{item.ref.pipeline}.{item.ref.name}"
        log.warning("polling %s failed: %s", where, why[:500], exc_info=trace)

    def _watched(self) -> list[Watched]:
        found: list[Watched] = []
        with self.db.unit_of_work(write=False) as uow:
            seen = SourceWatches(uow.session).all()
            for ref in source_actions(uow.session):
                if not pollable(ref):
                    continue
                key = (ref.pipeline_id, ref.name)
                item = Watched(ref, key in seen, seen.get(key))
                if ref.provider == "CodeStarSourceConnection":
                    try:
                        item.remote = git_access.remote_for(
                            uow.session,
                            self.box,
                            ref.configuration["ConnectionArn"],
                            ref.configuration["FullRepositoryId"],
                        )
                    except Exception:
                        log.info("%s.%s: connection not usable", ref.pipeline, ref.name)
                        continue
                found.append(item)
        return found

    def _head(self, item: Watched) -> str | None:
        config = item.ref.configuration
        if item.remote is not None:
            return git_access.head_commit(item.remote, config["BranchName"])
        try:
            info = self.store.head(config["S3Bucket"], config["S3ObjectKey"])
        except ObjectNotFound:
            return None
        return info.version_id if info.version_id is not None else info.etag

    def _record(self, item: Watched, revision: str) -> list[str]:
        ref = item.ref
        trigger = trigger_for(ref.declaration, ref.name)
        paths: list[str] | None = []
        if item.seen and item.remote is not None and trigger is not None:
            paths = self._changed_paths(item, revision)
        with self.db.unit_of_work() as uow:
            watches = SourceWatches(uow.session)
            if not item.seen:
                watches.first(ref.pipeline_id, ref.name, revision)
                return []
            if not watches.advance(ref.pipeline_id, ref.name, item.revision, revision):
                return []  # another process (or a git event) moved it first
            if watches.started(ref.pipeline_id, ref.name, revision):
                return []  # PutActionRevision or a manual start ran it already
            if item.remote is not None:
                branch = ref.configuration["BranchName"]
                event = push_event(
                    ref.configuration["FullRepositoryId"], branch, item.revision, revision, paths
                )
                if decide(ref.configuration, trigger, event) is None:
                    return []  # seen, and the trigger's filters leave it out
            execution = self.starter.start(
                uow, ref.pipeline, ref.action, revision, TRIGGER, ref.name
            )
            log.info("%s: %s started on %s of %s", TRIGGER, execution, revision, ref.name)
            return [execution]

    def _changed_paths(self, item: Watched, revision: str) -> list[str] | None:
        """Files changed since the recorded revision; None (unknown) when git cannot tell."""
        try:
            return git_access.changed_paths(item.remote, item.revision, revision)
        except git_access.GitError as exc:
            where = f"{item.ref.pipeline}.{item.ref.name}"
            log.warning("%s: changed files since %s unknown: %s", where, item.revision, exc)
            return None


class SourcePollingThread(PeriodicThread):
    """Runs polling passes in the background of a serve or worker process."""

    def __init__(self, poller: SourcePoller, interval: float) -> None:
        super().__init__("source-polling", poller.poll_once, interval, log)
        self.poller = poller


def polling_thread(
    db: Database,
    dispatcher: Dispatcher,
    executions: ExecutionSettings,
    store: ObjectStore,
    settings: Settings,
) -> SourcePollingThread:
    """A started polling thread for one process."""
    poller = SourcePoller(
        db, Starter(dispatcher, executions), store, SecretBox.from_settings(settings)
    )
    thread = SourcePollingThread(poller, settings.source_poll_interval)
    thread.start()
    return thread
