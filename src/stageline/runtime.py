"""The composition root: the concrete parts one process runs with.

- `serve` without a broker: the in-process executor (thread pool + reconciler thread).
- `serve` with a broker: dispatches to Celery; runs no actions itself.
- `worker`: runs actions from Celery, dispatches follow-up work to Celery, reconciles.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from typing import Any, Literal

from stageline.domain.arns import Arns
from stageline.identity import KeyStore
from stageline.persistence.db import Database
from stageline.services.orchestrator import ExecutionSettings
from stageline.services.ports import Dispatcher, NullDispatcher
from stageline.settings import Settings

Role = Literal["serve", "worker", "tool"]


@dataclass
class Runtime:
    settings: Settings
    db: Database
    keys: KeyStore
    arns: Arns
    dispatcher: Dispatcher = field(default_factory=NullDispatcher)
    executions: ExecutionSettings = field(default_factory=ExecutionSettings)
    celery: Any = None
    runner: Any = None  # services.runner.ActionRunner where this process runs actions
    build_runner: Any = None  # services.build_runner.BuildRunner, beside it
    _background: list[Any] = field(default_factory=list)

    @classmethod
    def from_settings(cls, settings: Settings, role: Role = "serve") -> Runtime:
        runtime = cls(
            settings=settings,
            db=Database(settings.resolved_database_url),
            keys=KeyStore(settings),
            arns=Arns(settings.region, settings.account_id),
            executions=ExecutionSettings(
                lease_seconds=settings.lease_seconds,
                action_timeout_minutes=settings.action_timeout_minutes,
                approval_timeout_minutes=settings.approval_timeout_minutes,
                job_ack_timeout_seconds=settings.job_ack_timeout_seconds,
                region=settings.region,
                account_id=settings.account_id,
            ),
        )
        if role != "tool":
            runtime._wire_executor(role)
        return runtime

    def _wire_executor(self, role: Role) -> None:
        if self.settings.broker_url:
            from stageline.dispatch.celery_app import CeleryDispatcher, make_celery

            self.celery = make_celery(self.settings.broker_url)
            self.dispatcher = CeleryDispatcher(self.celery)
            if role == "worker":
                self.runner = self._make_runner()
        else:
            from stageline.dispatch.local import LocalDispatcher

            local = LocalDispatcher(self.settings.workers)
            self.dispatcher = local
            self.runner = self._make_runner()
            local.bind(self.runner.run, self.build_runner.run)
            self._background.append(local)

    def _make_runner(self) -> Any:
        from stageline.actions.base import ActionProvider
        from stageline.actions.git_source import GitSourceProvider
        from stageline.actions.registry import builtin_providers, provider_for
        from stageline.artifacts.factory import object_store
        from stageline.builds.sandbox import make_undumpable
        from stageline.domain.action_types import ActionTypeId
        from stageline.services.build_execution import BuildExecution, BuildSettings
        from stageline.services.build_runner import BuildRunner
        from stageline.services.codebuild_action import CodeBuildProvider
        from stageline.services.lambda_action import LambdaProvider
        from stageline.services.runner import ActionRunner
        from stageline.services.secret_box import SecretBox

        # Builds and commands run as this process's user when it is not root: keep them
        # from reading its memory and /proc/<pid>/environ (database URL, keys).
        make_undumpable()
        worker_id = f"{socket.gethostname()}:{os.getpid()}"
        store = object_store(self.settings)
        s = self.settings
        execution = BuildExecution(
            self.db, store, self.arns, BuildSettings(s.build_dir, s.region, s.public_url)
        )
        self.build_runner = BuildRunner(self.db, execution, s.lease_seconds, worker_id)
        codebuild = CodeBuildProvider(self.db, self.arns, self.build_runner, s.public_url)
        builtin = builtin_providers(s.build_dir)
        invoke = LambdaProvider(self.db, s.account_id, s.region)
        git_cache = s.data_dir / "git-cache"
        git_source = GitSourceProvider(self.db, SecretBox.from_settings(s), git_cache)

        def providers(type_id: ActionTypeId) -> ActionProvider | None:
            if (
                type_id.owner == "AWS"
                and type_id.provider == "CodeBuild"
                and type_id.version == "1"
            ):
                return codebuild
            if type_id == ActionTypeId("Invoke", "AWS", "Lambda", "1"):
                return invoke
            if type_id == ActionTypeId("Source", "AWS", "CodeStarSourceConnection", "1"):
                return git_source
            return provider_for(type_id, builtin)

        return ActionRunner(
            self.db, self.dispatcher, store, providers, self.executions, s.workspaces_dir, worker_id
        )

    def start_background(self) -> None:
        """Start the reconciler where this process runs actions."""
        if self.runner is None:
            if self.celery is not None:
                # serve with a broker: deliver what the API commits (STARTED) at once
                # rather than at a worker's next tick; claims are safe across processes.
                self._start_delivery()
            return
        from stageline.services.reconciler import Reconciler, ReconcilerThread

        thread = ReconcilerThread(
            Reconciler(self.db, self.dispatcher, self.executions),
            self.settings.reconcile_interval,
        )
        thread.start()
        self._background.append(thread)
        self._start_delivery()
        self._start_polling()

    def _start_polling(self) -> None:
        """Change detection by polling (services/source_polling.py)."""
        from stageline.artifacts.factory import object_store
        from stageline.services.source_polling import polling_thread

        store = object_store(self.settings)
        s = self.settings
        self._background.append(polling_thread(self.db, self.dispatcher, self.executions, store, s))

    def _start_delivery(self) -> None:
        """Events and notifications: the outbox delivered after commit (services/events.py)."""
        from stageline.services.commit_status import CommitStatusSender
        from stageline.services.event_delivery import Deliverer, DeliverySettings, DeliveryThread
        from stageline.services.event_targets import Sender, SnsPublisher, post_webhook
        from stageline.services.secret_box import SecretBox

        box = SecretBox.from_settings(self.settings)
        senders: dict[str, Sender] = {
            "sns": SnsPublisher(),
            "webhook": post_webhook,
            "commit_status": CommitStatusSender(self.db, box),
        }
        settings = DeliverySettings(retention_days=self.settings.event_retention_days)
        delivery = DeliveryThread(Deliverer(self.db, senders, settings, box=box))
        delivery.start()
        self._background.append(delivery)

    def close(self) -> None:
        if self.runner is not None:
            self.runner.stop()
        if self.build_runner is not None:
            self.build_runner.stop()
        for part in reversed(self._background):
            part.stop() if hasattr(part, "stop") else part.close()
        self._background.clear()
        self.db.dispose()
