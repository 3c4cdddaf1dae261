"""The pure parts of events: states, event type ids, the EventBridge and notification formats,
the approval message, backoff and webhook signatures."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime

import pytest

from stageline.domain.errors import InvalidNextTokenException
from stageline.domain.event_types import BY_ID, EVENT_TYPES, event_state, event_type_ids, page
from stageline.services.event_delivery import DeliverySettings, backoff
from stageline.services.event_format import (
    Change,
    approval_message,
    eventbridge_event,
    notification,
)
from stageline.services.event_targets import signature

AT = datetime(2026, 11, 27, 12, 0, 5, 123000, tzinfo=UTC)


def change(**overrides: object) -> Change:
    values: dict[str, object] = dict(
        entity="execution",
        state="STARTED",
        at=AT,
        account="000000000000",
        region="eu-west-1",
        pipeline="app",
        pipeline_version=3,
        execution_id="e1",
        trigger_type="Webhook",
        trigger_detail="arn:aws:codepipeline:eu-west-1:000000000000:app--hook",
    )
    values.update(overrides)
    return Change(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("old", "new", "state"),
    [
        (None, "InProgress", "STARTED"),
        ("InProgress", "Succeeded", "SUCCEEDED"),
        ("Failed", "InProgress", "RESUMED"),
        ("Stopped", "InProgress", "RESUMED"),
        ("InProgress", "Cancelled", "CANCELED"),
        ("InProgress", "Superseded", "SUPERSEDED"),
        ("InProgress", "Stopping", "STOPPING"),
        ("InProgress", "Abandoned", "ABANDONED"),
        (None, "Skipped", None),
    ],
)
def test_states(old: str | None, new: str, state: str | None) -> None:
    assert event_state(old, new) == state


def test_event_types_are_awss() -> None:
    assert len(EVENT_TYPES) == 18
    assert BY_ID["codepipeline-pipeline-manual-approval-needed"].name == "Manual approval: Needed"
    assert event_type_ids("execution", "SUPERSEDED") == [
        "codepipeline-pipeline-pipeline-execution-superseded"
    ]
    assert event_type_ids("stage", "STOPPED") == []
    assert event_type_ids("action", "STARTED", approval=True) == [
        "codepipeline-pipeline-action-execution-started",
        "codepipeline-pipeline-manual-approval-needed",
    ]
    assert event_type_ids("action", "FAILED", approval=True)[-1].endswith("approval-failed")


def test_pipeline_event_in_eventbridge_format() -> None:
    event = eventbridge_event(change(), "id-1")
    assert event == {
        "version": "0",
        "id": "id-1",
        "detail-type": "CodePipeline Pipeline Execution State Change",
        "source": "aws.codepipeline",
        "account": "000000000000",
        "time": "2026-11-27T12:00:05Z",
        "region": "eu-west-1",
        "resources": ["arn:aws:codepipeline:eu-west-1:000000000000:app"],
        "detail": {
            "pipeline": "app",
            "execution-id": "e1",
            "execution-trigger": {
                "trigger-type": "Webhook",
                "trigger-detail": "arn:aws:codepipeline:eu-west-1:000000000000:app--hook",
            },
            "state": "STARTED",
            "version": 3.0,
        },
    }


def test_action_event_carries_type_artifacts_and_result() -> None:
    decl = {
        "name": "Deploy",
        "region": "us-west-2",
        "actionTypeId": {"category": "Deploy", "owner": "AWS", "provider": "S3", "version": "1"},
        "inputArtifacts": [{"name": "BuildOutput"}],
    }
    event = eventbridge_event(
        change(
            entity="action",
            state="FAILED",
            stage="Prod",
            action="Deploy",
            action_decl=decl,
            error_code="JobFailed",
            error_message="Access denied",
        )
    )
    detail = event["detail"]
    assert event["detail-type"] == "CodePipeline Action Execution State Change"
    assert (detail["stage"], detail["action"], detail["region"]) == ("Prod", "Deploy", "us-west-2")
    assert detail["type"] == {
        "owner": "AWS", "provider": "S3", "category": "Deploy", "version": "1"
    }  # fmt: skip
    assert detail["input-artifacts"] == [{"name": "BuildOutput"}]
    assert detail["execution-result"] == {
        "external-execution-summary": "Access denied",
        "error-code": "JobFailed",
    }
    assert "execution-trigger" not in detail


def test_notification_basic_and_full() -> None:
    event = eventbridge_event(change(state="SUCCEEDED"))
    basic = notification(event, "arn:rule", "BASIC")
    assert basic["detailType"] == event["detail-type"]
    assert basic["notificationRuleArn"] == "arn:rule"
    assert basic["detail"] == event["detail"]
    assert "additionalAttributes" not in basic
    full = notification(event, "arn:rule", "FULL", {"x": 1})
    assert full["additionalAttributes"] == {"x": 1}


def test_approval_message() -> None:
    message = approval_message(
        region="us-east-1",
        public_url="https://ci.example.com/",
        pipeline="app",
        stage="Gate",
        action="Approve",
        token="t-1",
        started=AT,
        timeout_minutes=60,
        configuration={"CustomData": "please", "ExternalEntityLink": "https://x"},
    )
    approval = message["approval"]
    assert message["consoleLink"].startswith("https://ci.example.com/")
    assert approval["expires"] == "2026-11-27T13:00Z"
    assert approval["approvalReviewLink"].endswith("/Gate/Approve/approve/t-1")
    assert (approval["customData"], approval["externalEntityLink"]) == ("please", "https://x")


def test_backoff_doubles_up_to_the_cap() -> None:
    settings = DeliverySettings(backoff_base_seconds=1, backoff_cap_seconds=300)
    assert [backoff(n, settings) for n in (1, 2, 3, 4)] == [1, 2, 4, 8]
    assert backoff(40, settings) == 300


def test_signature_is_github_style_hmac_sha256() -> None:
    body = b'{"a":1}'
    assert signature("k", body) == "sha256=" + hmac.new(b"k", body, hashlib.sha256).hexdigest()


def test_paging_tokens() -> None:
    keys = list(range(7))
    first, token = page("x", keys, {"MaxResults": 3})
    assert first == [0, 1, 2] and token is not None
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")
    second, _ = page("x", keys, {"MaxResults": 3, "NextToken": token})
    assert second == [3, 4, 5]
    with pytest.raises(InvalidNextTokenException):
        page("y", keys, {"NextToken": token})
