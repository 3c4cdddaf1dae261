"""Events: every status change the orchestrator records becomes an EventBridge-format event
row (the outbox), plus one delivery row per notification target subscribed to it, all in the
transaction of the change — so a rolled-back change sends nothing and a committed one is
never lost. Delivery happens after commit (services/event_delivery.py).

`record` is the orchestrator's one hook; it reads what it needs from rows the unit of work
already holds (no extra queries but one per pipeline per transaction for its rules).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from stageline.domain.event_types import event_state, event_type_ids
from stageline.persistence.models import ActionExecution, Pipeline, PipelineExecution, StatusChange
from stageline.persistence.models_events import (
    Event,
    EventDelivery,
    NotificationRule,
    NotificationRuleTarget,
    NotificationTarget,
)
from stageline.services import commit_status
from stageline.services.commit_status import commits_of_variables, is_git_source
from stageline.services.event_format import (
    Change,
    approval_message,
    approval_subject,
    eventbridge_event,
    notification,
    pipeline_arn,
)

if TYPE_CHECKING:  # the orchestrator imports this module
    from stageline.services.orchestrator import Orchestrator as StatusWriter

FINAL_STATES = frozenset({"SUCCEEDED", "FAILED", "STOPPED", "CANCELED", "SUPERSEDED"})
_RULES_KEY = "stageline.notification_rules"
# Set after every commit that wrote a delivery: the local delivery loop wakes at once.
WAKE = threading.Event()


@dataclass(frozen=True)
class RuleTarget:
    rule_arn: str
    detail_type: str
    event_type_ids: frozenset[str]
    kind: str  # sns | webhook
    address: str


@cache
def _public_url() -> str:
    from stageline.settings import Settings

    return Settings().public_url


def record(writer: StatusWriter, change: StatusChange) -> Event | None:
    """The event of one recorded status change (None for moves with no event)."""
    state = event_state(change.old_status, change.new_status)
    if state is None:
        return None
    session = writer.session
    execution = session.get(PipelineExecution, change.execution_pk)
    pipeline = session.get(Pipeline, change.pipeline_id)
    if execution is None or pipeline is None:
        return None
    decl = writer.declarations.get(execution.pipeline_id, execution.pipeline_version)
    stage = action = None
    action_decl: dict[str, Any] = {}
    row: ActionExecution | None = None
    if change.entity == "stage":
        stage = change.name
    elif change.entity == "action":
        stage, _, action = change.name.partition(".")
        action_decl = _action_decl(decl, stage, action)
        row = _action_row(session, change)
    settings = writer.settings
    info = Change(
        entity=change.entity,
        state=state,
        at=change.at,
        account=settings.account_id,
        region=settings.region,
        pipeline=pipeline.name,
        pipeline_version=execution.pipeline_version,
        execution_id=execution.execution_id,
        trigger_type=execution.trigger_type,
        trigger_detail=execution.trigger_detail,
        stage=stage,
        action=action,
        action_decl=action_decl,
        error_code=row.error_code if row is not None else None,
        error_message=row.error_message if row is not None else None,
        external_id=row.external_execution_id if row is not None else None,
        external_url=row.external_execution_url if row is not None else None,
    )
    approval = action_decl.get("actionTypeId", {}).get("category") == "Approval"
    ids = event_type_ids(change.entity, state, approval=approval)
    body = eventbridge_event(info)
    event = Event(
        event_id=body["id"],
        pipeline_id=pipeline.id,
        pipeline_name=pipeline.name,
        execution_id=execution.execution_id,
        detail_type=body["detail-type"],
        state=state,
        event_type_id=ids[0] if ids else None,
        body=body,
        created_at=change.at,
    )
    session.add(event)
    deliveries = _fan_out(writer, event, set(ids))
    if approval and state == "STARTED" and row is not None:
        deliveries += _approval(writer, event, info, row, action_decl)
    deliveries += _commit_statuses(writer, event, change, row, action_decl)
    if deliveries:
        writer.uow.after_commit(WAKE.set)
    return event


def _action_decl(decl: dict[str, Any], stage: str, action: str) -> dict[str, Any]:
    for stage_decl in decl.get("stages", []):
        if stage_decl["name"] == stage:
            for action_decl in stage_decl["actions"]:
                if action_decl["name"] == action:
                    return dict(action_decl)
    return {}


def _action_row(session: Session, change: StatusChange) -> ActionExecution | None:
    """The attempt the change is about, from the unit of work's own rows: a new attempt (not
    flushed yet) when it starts, else the latest attempt still at the old status."""
    stage, _, action = change.name.partition(".")

    def ours(objects: Iterable[object]) -> list[ActionExecution]:
        return [
            obj
            for obj in objects
            if isinstance(obj, ActionExecution)
            and obj.execution_pk == change.execution_pk
            and obj.stage_name == stage
            and obj.action_name == action
        ]

    if change.old_status is None:
        fresh = ours(session.new)
        if fresh:
            return fresh[-1]
    held = ours(session.identity_map.values())
    held.sort(key=lambda o: o.pk or 0)
    current = [o for o in held if o.status == change.old_status] or held
    return current[-1] if current else None


def _rules(writer: StatusWriter, arn: str) -> list[RuleTarget]:
    """The enabled rules on a pipeline with their targets: once per unit of work."""
    cache_: dict[str, list[RuleTarget]] = writer.session.info.setdefault(_RULES_KEY, {})
    if arn not in cache_:
        rows = writer.session.execute(
            select(NotificationRule, NotificationTarget)
            .join(NotificationRuleTarget, NotificationRuleTarget.rule_pk == NotificationRule.pk)
            .join(NotificationTarget, NotificationTarget.pk == NotificationRuleTarget.target_pk)
            .where(NotificationRule.resource == arn, NotificationRule.status == "ENABLED")
            .order_by(NotificationRule.pk, NotificationTarget.pk)
        )
        cache_[arn] = [
            RuleTarget(
                rule.arn,
                rule.detail_type,
                frozenset(rule.event_type_ids),
                "sns" if target.target_type == "SNS" else "webhook",
                target.address,
            )
            for rule, target in rows
        ]
    return cache_[arn]


def forget_rules(session: Session) -> None:
    """Rules changed in this unit of work: read them again."""
    session.info.pop(_RULES_KEY, None)


def _fan_out(writer: StatusWriter, event: Event, ids: set[str]) -> list[EventDelivery]:
    if not ids:
        return []
    arn = event.body["resources"][0]
    made = []
    for target in _rules(writer, arn):
        if not ids & target.event_type_ids:
            continue
        additional = _additional(event) if target.detail_type == "FULL" else None
        message = notification(event.body, target.rule_arn, target.detail_type, additional)
        made.append(_delivery(writer, event, target.kind, target.address, message, target.rule_arn))
    return made


def _additional(event: Event) -> dict[str, Any]:
    detail = event.body["detail"]
    extra: dict[str, Any] = {}
    if detail.get("failure-reason"):
        extra["failureReason"] = detail["failure-reason"]
    if "execution-result" in detail:
        extra["executionResult"] = detail["execution-result"]
    return extra


def _approval(
    writer: StatusWriter,
    event: Event,
    info: Change,
    row: ActionExecution,
    action_decl: dict[str, Any],
) -> list[EventDelivery]:
    config = row.input.get("resolvedConfiguration") or action_decl.get("configuration") or {}
    topic = config.get("NotificationArn")
    if not topic or not row.approval_token:
        return []
    minutes = int((row.timeout_at - row.started_at).total_seconds() // 60)
    message = approval_message(
        region=info.region,
        public_url=_public_url(),
        pipeline=info.pipeline,
        stage=info.stage or "",
        action=info.action or "",
        token=row.approval_token,
        started=row.started_at,
        timeout_minutes=minutes,
        configuration=config,
    )
    payload = {"subject": approval_subject(info.pipeline, info.action or ""), "message": message}
    return [_delivery(writer, event, "sns", topic, payload, None, raw=True)]


def _commit_statuses(
    writer: StatusWriter,
    event: Event,
    change: StatusChange,
    row: ActionExecution | None,
    action_decl: dict[str, Any],
) -> list[EventDelivery]:
    """Commit statuses for a git source's commit (pending) and at the execution's end."""
    if change.entity == "action" and event.state == "SUCCEEDED" and is_git_source(action_decl):
        variables = row.output_variables if row is not None else {}
        commits = commits_of_variables(variables)
        started = True
    elif change.entity == "execution" and event.state in FINAL_STATES:
        commits, started = [], False
    else:
        return []
    arn = event.body["resources"][0]
    if not commit_status.enabled(writer.session, arn):
        return []
    if not started:
        commits = commit_status.commits_of(writer.session, change.execution_pk)
    state = commit_status.state_for(event.state, started=started)
    made = []
    for commit in commits:
        address, payload = commit_status.request(
            commit, state, event.pipeline_name, event.execution_id, _public_url()
        )
        made.append(_delivery(writer, event, "commit_status", address, payload, None, raw=True))
    return made


def _delivery(
    writer: StatusWriter,
    event: Event,
    kind: str,
    address: str,
    message: dict[str, Any],
    rule_arn: str | None,
    *,
    raw: bool = False,
) -> EventDelivery:
    payload = message if raw else {"message": message}
    row = EventDelivery(
        kind=kind,
        address=address,
        rule_arn=rule_arn,
        payload=payload,
        status="pending",
        attempts=0,
        next_attempt_at=event.created_at,
        lease_token=0,
        created_at=event.created_at,
    )
    row.event = event  # inserted in the same flush, after the event
    writer.session.add(row)
    return row


__all__ = ["WAKE", "forget_rules", "pipeline_arn", "record"]
