"""Celery transport: tasks carry an action attempt's id only, are acknowledged late, one
prefetched at a time. Celery alone does not make this safe (a SIGKILLed worker's task is
gone, a short visibility timeout runs it twice); the runner's lease and fencing token and the
reconciler do."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from celery import Celery

log = logging.getLogger("stageline.celery")

TASK = "stageline.run_action"
BUILD_TASK = "stageline.run_build"
QUEUE = "stageline"


def make_celery(broker_url: str) -> Any:
    app = Celery("stageline", broker=broker_url)
    app.conf.update(
        task_acks_late=True,
        worker_prefetch_multiplier=1,
        task_default_queue=QUEUE,
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        broker_connection_retry_on_startup=True,
        # Redelivery of an unacknowledged message is a backstop only; leases decide.
        broker_transport_options={"visibility_timeout": 3600},
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
    )
    return app


class CeleryDispatcher:
    def __init__(self, app: Any) -> None:
        self.app = app

    def dispatch_action(self, action_execution_id: str, *, delay_seconds: float = 0.0) -> None:
        options: dict[str, Any] = {"queue": QUEUE}
        if delay_seconds > 0:
            options["countdown"] = delay_seconds
        self._send(TASK, action_execution_id, options)

    def dispatch_build(self, build_id: str) -> None:
        self._send(BUILD_TASK, build_id, {"queue": QUEUE})

    def _send(self, task: str, ident: str, options: dict[str, Any]) -> None:
        try:
            self.app.send_task(task, args=[ident], **options)
        except Exception:  # broker away: the reconciler re-dispatches after a lease
            log.warning("could not send %s to the broker; the reconciler will retry", ident)


def register_tasks(app: Any, run: Callable[[str], object], build: Callable[[str], object]) -> None:
    @app.task(name=TASK, acks_late=True)  # type: ignore[untyped-decorator]
    def run_action(action_execution_id: str) -> None:
        run(action_execution_id)

    @app.task(name=BUILD_TASK, acks_late=True)  # type: ignore[untyped-decorator]
    def run_build(build_id: str) -> None:
        build(build_id)
