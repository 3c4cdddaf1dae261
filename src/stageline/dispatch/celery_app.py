"""Celery transport: tasks carry an action attempt's id only, are acknowledged late, one
prefetched at a time. Celery alone does not make this safe (a SIGKILLed worker's task is
gone, a short visibility timeout runs it twice); the runner's lease and fencing token and the
reconciler do."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from celery import Celery

TASK = "stageline.run_action"
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
        try:
            self.app.send_task(TASK, args=[action_execution_id], **options)
        except Exception:  # broker away: the reconciler re-dispatches after a lease
            import logging

            logging.getLogger("stageline.celery").warning(
                "could not send %s to the broker; the reconciler will retry", action_execution_id
            )


def register_tasks(app: Any, run: Callable[[str], object]) -> None:
    @app.task(name=TASK, acks_late=True)  # type: ignore[untyped-decorator]
    def run_action(action_execution_id: str) -> None:
        run(action_execution_id)
