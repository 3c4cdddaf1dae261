"""What runs next inside a stage: runOrder groups, from the latest result of each action.

Pure: it sees the declared actions and the latest status of each in the counted attempts, and
says whether the stage is still running, which actions to start, or how it ended.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from stageline.domain.status import ActionStatus


@dataclass(frozen=True)
class StagePlan:
    start: tuple[str, ...] = ()  # action names to start now
    running: bool = False  # some action still in flight
    failed: bool = False  # the stage has ended in failure (nothing in flight)
    succeeded: bool = False  # every action succeeded
    halted: bool = False  # work remains but may not start (stop-and-wait); nothing in flight


def run_order(action: Mapping[str, Any]) -> int:
    value = action.get("runOrder") or 1
    return int(value)


def plan_stage(
    actions: Sequence[Mapping[str, Any]],
    latest: Mapping[str, str],
    *,
    may_start: bool = True,
) -> StagePlan:
    """latest: action name → status of its latest counted attempt (absent: never run).

    A failure lets the actions in flight finish, then fails the stage; no later runOrder group
    starts after a failure. may_start=False (stop-and-wait) starts nothing new.
    """
    statuses = [latest.get(a["name"]) for a in actions]
    if any(s == ActionStatus.IN_PROGRESS for s in statuses):
        return StagePlan(running=True)
    if any(s in (ActionStatus.FAILED, ActionStatus.ABANDONED) for s in statuses):
        return StagePlan(failed=True)
    pending = [a for a in actions if latest.get(a["name"]) != ActionStatus.SUCCEEDED]
    if not pending:
        return StagePlan(succeeded=True)
    if not may_start:
        return StagePlan(halted=True)
    lowest = min(run_order(a) for a in pending)
    return StagePlan(start=tuple(a["name"] for a in pending if run_order(a) == lowest))
