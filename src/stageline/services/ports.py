"""The small protocols services depend on; the composition root supplies the concrete ones."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


class Dispatcher(Protocol):
    """Wakes a worker up to run an action attempt. Called only after the commit that made the
    work visible; carries the id alone, so a lost or repeated message is harmless."""

    def dispatch_action(self, action_execution_id: str, *, delay_seconds: float = 0.0) -> None: ...

    def dispatch_build(self, build_id: str) -> None:
        """Wakes a worker up to run a standalone build (StartBuild), by id alone too."""
        ...


class NullDispatcher:
    """For processes that only read (or tests of the orchestrator): the reconciler in a real
    executor picks the work up."""

    def dispatch_action(self, action_execution_id: str, *, delay_seconds: float = 0.0) -> None:
        return None

    def dispatch_build(self, build_id: str) -> None:
        return None
