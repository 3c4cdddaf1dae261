"""CodeStar Notifications operations (REST-JSON, `aws codestar-notifications`): thin handlers
that open a unit of work and call services/notification_rules.py."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from stageline.aws.router import AwsCall, AwsService, Handler
from stageline.domain.event_types import list_event_types
from stageline.runtime import Runtime
from stageline.services.notification_rules import NotificationRules

Output = dict[str, Any] | None


def _write(work: Callable[[NotificationRules, dict[str, Any], AwsCall], Output]) -> Handler:
    def handler(rt: Runtime, call: AwsCall) -> Output:
        with rt.db.unit_of_work() as uow:
            rules = NotificationRules(uow.session, rt.settings)
            return work(rules, call.params, call)

    return handler


def _read(work: Callable[[NotificationRules, dict[str, Any], AwsCall], Output]) -> Handler:
    def handler(rt: Runtime, call: AwsCall) -> Output:
        with rt.db.unit_of_work(write=False) as uow:
            rules = NotificationRules(uow.session, rt.settings)
            return work(rules, call.params, call)

    return handler


def _update(rules: NotificationRules, p: dict[str, Any], _: AwsCall) -> Output:
    rules.update(p)
    return {}


def _delete_target(rules: NotificationRules, p: dict[str, Any], _: AwsCall) -> Output:
    rules.delete_target(p["TargetAddress"], bool(p.get("ForceUnsubscribeAll")))
    return {}


def _delete(rules: NotificationRules, p: dict[str, Any], _: AwsCall) -> Output:
    rules.delete(p["Arn"])
    return {"Arn": p["Arn"]}


def _untag(rules: NotificationRules, p: dict[str, Any], _: AwsCall) -> Output:
    rules.untag(p["Arn"], p["TagKeys"])
    return {}


HANDLERS: dict[str, Handler] = {
    "CreateNotificationRule": _write(lambda r, p, c: {"Arn": r.create(p, c.principal)}),
    "DescribeNotificationRule": _read(lambda r, p, c: r.describe(p["Arn"])),
    "ListNotificationRules": _read(lambda r, p, c: r.list_rules(p)),
    "UpdateNotificationRule": _write(_update),
    "DeleteNotificationRule": _write(_delete),
    "ListEventTypes": lambda rt, call: list_event_types(call.params),
    "ListTargets": _read(lambda r, p, c: r.list_targets(p)),
    "Subscribe": _write(lambda r, p, c: {"Arn": r.subscribe(p["Arn"], p["Target"])}),
    "Unsubscribe": _write(lambda r, p, c: {"Arn": r.unsubscribe(p["Arn"], p["TargetAddress"])}),
    "DeleteTarget": _write(_delete_target),
    "TagResource": _write(lambda r, p, c: {"Tags": r.tag(p["Arn"], p["Tags"])}),
    "UntagResource": _write(_untag),
    "ListTagsForResource": _read(lambda r, p, c: {"Tags": r.tags(p["Arn"])}),
}
SERVICE = AwsService("codestar-notifications", HANDLERS)
