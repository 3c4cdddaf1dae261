"""CodePipeline's events: EventBridge detail types and states, and the notification event
types of the CodeStar Notifications API (ListEventTypes), with how a status change maps to
each.

States follow "Monitoring CodePipeline events" (AWS CodePipeline user guide): upper-case,
CANCELED with one L, RESUMED for an execution or stage brought back by a retry. Event type ids
and names follow "Events for notification rules on pipelines" (Developer Tools console guide).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from stageline.domain.errors import InvalidNextTokenException

SOURCE = "aws.codepipeline"
PIPELINE_DETAIL = "CodePipeline Pipeline Execution State Change"
STAGE_DETAIL = "CodePipeline Stage Execution State Change"
ACTION_DETAIL = "CodePipeline Action Execution State Change"
DETAIL_TYPES = {"execution": PIPELINE_DETAIL, "stage": STAGE_DETAIL, "action": ACTION_DETAIL}

# Status (AWS API spelling) → event state.
_STATES = {
    "Succeeded": "SUCCEEDED",
    "Failed": "FAILED",
    "Stopped": "STOPPED",
    "Stopping": "STOPPING",
    "Superseded": "SUPERSEDED",
    "Cancelled": "CANCELED",
    "Abandoned": "ABANDONED",
}


def event_state(old: str | None, new: str) -> str | None:
    """The event state of a move, None for moves AWS sends no event for (a stage Skipped)."""
    if new == "InProgress":
        # Back to InProgress from an end: RetryStageExecution resumed it.
        return "STARTED" if old in (None, "InProgress") else "RESUMED"
    return _STATES.get(new)


@dataclass(frozen=True)
class EventType:
    event_type_id: str
    name: str
    entity: str  # execution | stage | action | approval
    state: str


def _types() -> tuple[EventType, ...]:
    found: list[EventType] = []
    groups = (
        ("action", "action-execution", "Action execution", ("SUCCEEDED", "FAILED", "CANCELED", "STARTED")),
        ("stage", "stage-execution", "Stage execution", ("STARTED", "SUCCEEDED", "RESUMED", "CANCELED", "FAILED")),
        ("execution", "pipeline-execution", "Pipeline execution", ("FAILED", "CANCELED", "STARTED", "RESUMED", "SUCCEEDED", "SUPERSEDED")),
        ("approval", "manual-approval", "Manual approval", ("FAILED", "NEEDED", "SUCCEEDED")),
    )  # fmt: skip
    for entity, slug, title, states in groups:
        for state in states:
            word = state.lower()
            found.append(
                EventType(
                    f"codepipeline-pipeline-{slug}-{word}",
                    f"{title}: {word.capitalize()}",
                    entity,
                    state,
                )
            )
    return tuple(found)


EVENT_TYPES = _types()
BY_ID = {t.event_type_id: t for t in EVENT_TYPES}
SERVICE_NAME = "CodePipeline"
RESOURCE_TYPE = "pipeline"
_APPROVAL_STATES = {"STARTED": "NEEDED", "SUCCEEDED": "SUCCEEDED", "FAILED": "FAILED"}


def event_type_ids(entity: str, state: str, *, approval: bool = False) -> list[str]:
    """The notification event types an event matches: its own, and for a Manual approval
    action also manual-approval-needed / -succeeded / -failed."""
    ids = [t.event_type_id for t in EVENT_TYPES if t.entity == entity and t.state == state]
    if approval and entity == "action" and state in _APPROVAL_STATES:
        wanted = _APPROVAL_STATES[state]
        ids += [
            t.event_type_id for t in EVENT_TYPES if t.entity == "approval" and t.state == wanted
        ]
    return ids


def view(t: EventType) -> dict[str, str]:
    return {
        "EventTypeId": t.event_type_id,
        "ServiceName": SERVICE_NAME,
        "EventTypeName": t.name,
        "ResourceType": RESOURCE_TYPE,
    }


def list_event_types(params: dict[str, Any]) -> dict[str, Any]:
    filters = params.get("Filters") or []
    types = list(EVENT_TYPES)
    for item in filters:
        wanted = item.get("Value")
        if item["Name"] == "SERVICE_NAME" and wanted != SERVICE_NAME:
            types = []
        if item["Name"] == "RESOURCE_TYPE" and wanted != RESOURCE_TYPE:
            types = []
    found, token = page("eventtypes", list(range(len(types))), params)
    return {"EventTypes": [view(types[i]) for i in found], "NextToken": token}


def page(kind: str, keys: list[int], params: dict[str, Any]) -> tuple[list[int], str | None]:
    """Keys after the token's position, at most MaxResults (default 100), and the next token."""
    after = _decode(kind, params["NextToken"]) if params.get("NextToken") else -1
    limit = int(params.get("MaxResults") or 100)
    rest = [k for k in keys if k > after]
    kept = rest[:limit]
    if len(rest) <= limit:
        return kept, None
    # Standard base64: this API's tokens must match ^[\w/+=]+$ (no "-").
    raw = json.dumps({"k": kind, "after": kept[-1]}).encode()
    return kept, base64.b64encode(raw).decode()


def _decode(kind: str, token: str) -> int:
    try:
        data = json.loads(base64.b64decode(token, validate=True))
        if data["k"] != kind:
            raise ValueError(kind)
        return int(data["after"])
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise InvalidNextTokenException("The next token is not valid.") from None
