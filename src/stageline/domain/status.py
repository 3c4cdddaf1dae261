"""Execution statuses (AWS's own strings) and the moves allowed between them.

The orchestrator is the only writer of statuses and checks every move against these tables,
so a late or duplicated message can never take an execution backwards.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from stageline.domain.errors import ServiceError


class ExecutionStatus(StrEnum):
    IN_PROGRESS = "InProgress"
    STOPPING = "Stopping"
    STOPPED = "Stopped"
    SUCCEEDED = "Succeeded"
    SUPERSEDED = "Superseded"
    FAILED = "Failed"
    CANCELLED = "Cancelled"


class StageStatus(StrEnum):
    IN_PROGRESS = "InProgress"
    STOPPING = "Stopping"
    STOPPED = "Stopped"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    CANCELLED = "Cancelled"
    SKIPPED = "Skipped"


class ActionStatus(StrEnum):
    IN_PROGRESS = "InProgress"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    ABANDONED = "Abandoned"


E, S, A = ExecutionStatus, StageStatus, ActionStatus

EXECUTION_TERMINAL = frozenset({E.STOPPED, E.SUCCEEDED, E.SUPERSEDED, E.FAILED, E.CANCELLED})
STAGE_TERMINAL = frozenset({S.STOPPED, S.SUCCEEDED, S.FAILED, S.CANCELLED, S.SKIPPED})
ACTION_TERMINAL = frozenset({A.SUCCEEDED, A.FAILED, A.ABANDONED})

# Failed and Stopped executions can come back to InProgress through RetryStageExecution.
EXECUTION_MOVES: dict[ExecutionStatus, frozenset[ExecutionStatus]] = {
    E.IN_PROGRESS: frozenset(
        {E.STOPPING, E.STOPPED, E.SUCCEEDED, E.SUPERSEDED, E.FAILED, E.CANCELLED}
    ),
    E.STOPPING: frozenset({E.STOPPED, E.STOPPING}),
    E.FAILED: frozenset({E.IN_PROGRESS}),
    E.STOPPED: frozenset({E.IN_PROGRESS}),
    E.SUCCEEDED: frozenset(),
    E.SUPERSEDED: frozenset(),
    E.CANCELLED: frozenset(),
}

STAGE_MOVES: dict[StageStatus, frozenset[StageStatus]] = {
    S.IN_PROGRESS: frozenset({S.STOPPING, S.STOPPED, S.SUCCEEDED, S.FAILED, S.CANCELLED}),
    S.STOPPING: frozenset({S.STOPPED, S.FAILED, S.SUCCEEDED}),
    S.FAILED: frozenset({S.IN_PROGRESS}),
    S.STOPPED: frozenset({S.IN_PROGRESS}),
    S.SUCCEEDED: frozenset(),
    S.CANCELLED: frozenset(),
    S.SKIPPED: frozenset(),
}

ACTION_MOVES: dict[ActionStatus, frozenset[ActionStatus]] = {
    A.IN_PROGRESS: frozenset({A.SUCCEEDED, A.FAILED, A.ABANDONED}),
    A.SUCCEEDED: frozenset(),
    A.FAILED: frozenset(),
    A.ABANDONED: frozenset(),
}


class IllegalTransition(ServiceError):
    """A status move the tables forbid: a bug or a stale message, never user input."""

    code = "InternalFailure"
    status = 500


def check_move(kind: str, moves: Mapping[Any, frozenset[Any]], old: str, new: str) -> None:
    if new not in moves.get(old, frozenset()):
        raise IllegalTransition(f"{kind} cannot move from {old} to {new}")
