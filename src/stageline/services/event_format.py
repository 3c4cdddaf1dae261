"""The wire formats of events: EventBridge's event, the notification CodeStar Notifications
sends to a target, and a Manual approval's request message. Pure functions of their inputs.

EventBridge's event (AWS CodePipeline user guide, "Monitoring CodePipeline events"):
`version` "0", `id`, `detail-type`, `source` aws.codepipeline, `account`, `time`, `region`,
`resources` [the pipeline ARN], and `detail` with pipeline, execution-id, version (the
pipeline's structure version), state, execution-trigger / stage / action, region, type
{owner, category, provider, version}, input-artifacts, execution-result. The notification is
the same event with camelCase top-level keys (detail-type becomes detailType) plus
notificationRuleArn, as the Developer Tools console guide shows its messages.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from stageline.domain.event_types import DETAIL_TYPES, SOURCE


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Change:
    """What one status change is about, read from the rows the orchestrator holds."""

    entity: str  # execution | stage | action
    state: str
    at: datetime
    account: str
    region: str
    pipeline: str
    pipeline_version: int
    execution_id: str
    trigger_type: str
    trigger_detail: str | None = None
    stage: str | None = None
    action: str | None = None
    action_decl: dict[str, Any] = field(default_factory=dict)
    error_code: str | None = None
    error_message: str | None = None
    external_id: str | None = None
    external_url: str | None = None
    summary: str | None = None


def pipeline_arn(region: str, account: str, pipeline: str) -> str:
    return f"arn:aws:codepipeline:{region}:{account}:{pipeline}"


def eventbridge_event(change: Change, event_id: str | None = None) -> dict[str, Any]:
    detail: dict[str, Any] = {
        "pipeline": change.pipeline,
        "execution-id": change.execution_id,
    }
    if change.entity == "execution":
        trigger = {"trigger-type": change.trigger_type}
        if change.trigger_detail:
            trigger["trigger-detail"] = change.trigger_detail
        detail["execution-trigger"] = trigger
    if change.stage is not None:
        detail["stage"] = change.stage
    if change.entity == "action":
        detail.update(_action_detail(change))
    detail["state"] = change.state
    detail["version"] = float(change.pipeline_version)
    return {
        "version": "0",
        "id": event_id or str(uuid.uuid4()),
        "detail-type": DETAIL_TYPES[change.entity],
        "source": SOURCE,
        "account": change.account,
        "time": iso(change.at),
        "region": change.region,
        "resources": [pipeline_arn(change.region, change.account, change.pipeline)],
        "detail": detail,
    }


def _action_detail(change: Change) -> dict[str, Any]:
    decl = change.action_decl
    type_id = decl.get("actionTypeId", {})
    detail: dict[str, Any] = {
        "action": change.action,
        "region": decl.get("region") or change.region,
        "type": {
            "owner": type_id.get("owner"),
            "provider": type_id.get("provider"),
            "category": type_id.get("category"),
            "version": type_id.get("version"),
        },
    }
    inputs = [a["name"] for a in decl.get("inputArtifacts", [])]
    if inputs:
        detail["input-artifacts"] = [{"name": name} for name in inputs]
    if change.state in ("SUCCEEDED", "FAILED", "ABANDONED"):
        result = {
            "external-execution-id": change.external_id,
            "external-execution-url": change.external_url,
            "external-execution-summary": change.error_message or change.summary,
            "error-code": change.error_code if change.state == "FAILED" else None,
        }
        kept = {k: v for k, v in result.items() if v}
        if kept:
            detail["execution-result"] = kept
    return detail


def notification(
    event: dict[str, Any],
    rule_arn: str,
    detail_type: str,
    additional: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """What a notification rule sends its targets for one event. FULL adds
    additionalAttributes (what Stageline knows beyond the event, e.g. failed actions)."""
    message: dict[str, Any] = {
        "account": event["account"],
        "detailType": event["detail-type"],
        "region": event["region"],
        "source": event["source"],
        "time": event["time"],
        "notificationRuleArn": rule_arn,
        "detail": event["detail"],
        "resources": event["resources"],
    }
    if detail_type == "FULL":
        message["additionalAttributes"] = additional or {}
    return message


def approval_message(
    *,
    region: str,
    public_url: str,
    pipeline: str,
    stage: str,
    action: str,
    token: str,
    started: datetime,
    timeout_minutes: int,
    configuration: dict[str, Any],
) -> dict[str, Any]:
    """The approval request AWS publishes to the action's NotificationArn topic ("JSON data
    format for manual approval notifications"), with links into this Stageline."""
    base = public_url.rstrip("/")
    console = f"{base}/console/pipelines/{pipeline}"
    approval: dict[str, Any] = {
        "pipelineName": pipeline,
        "stageName": stage,
        "actionName": action,
        "token": token,
        "expires": started.replace(microsecond=0)
        .__add__(timedelta(minutes=timeout_minutes))
        .strftime("%Y-%m-%dT%H:%MZ"),
        "externalEntityLink": configuration.get("ExternalEntityLink"),
        "approvalReviewLink": f"{console}/{stage}/{action}/approve/{token}",
        "customData": configuration.get("CustomData"),
    }
    return {"region": region, "consoleLink": console, "approval": approval}


def approval_subject(pipeline: str, action: str) -> str:
    # SNS subjects: at most 100 printable ASCII characters.
    subject = f"APPROVAL NEEDED: Stageline pipeline {pipeline} for action {action}"
    return subject[:100]
