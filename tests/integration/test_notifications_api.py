"""The CodeStar Notifications API (REST-JSON) through boto3 and `aws codestar-notifications`:
rules on pipelines, targets, event types, paging, tags, and AWS's errors for bad input."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError
from tests.conftest import make_client
from tests.support.pipelines import two_stage, unique
from tests.support.servers import ACCESS_KEY_ID, SECRET_ACCESS_KEY, Server

ACCOUNT = "000000000000"
TOPIC = f"arn:aws:sns:us-east-1:{ACCOUNT}:stageline-notes"
SUCCEEDED = "codepipeline-pipeline-pipeline-execution-succeeded"
STARTED = "codepipeline-pipeline-pipeline-execution-started"


@pytest.fixture
def notes(server: Server) -> Any:
    return make_client(server.url, "codestar-notifications")


@pytest.fixture
def pipeline_arn(server: Server) -> str:
    name = unique()
    make_client(server.url).create_pipeline(pipeline=two_stage(name))
    return f"arn:aws:codepipeline:us-east-1:{ACCOUNT}:{name}"


def fails(call: Any, **params: Any) -> ClientError:
    with pytest.raises(ClientError) as info:
        call(**params)
    return info.value


def code(error: ClientError) -> str:
    return str(error.response["Error"]["Code"])


def status(error: ClientError) -> int:
    return int(error.response["ResponseMetadata"]["HTTPStatusCode"])


def create(notes: Any, resource: str, **extra: Any) -> str:
    params: dict[str, Any] = {
        "Name": f"rule-{uuid.uuid4().hex[:12]}",
        "EventTypeIds": [STARTED, SUCCEEDED],
        "Resource": resource,
        "Targets": [{"TargetType": "SNS", "TargetAddress": TOPIC}],
        "DetailType": "FULL",
        **extra,
    }
    return str(notes.create_notification_rule(**params)["Arn"])


def test_create_describe_update_list_delete(notes: Any, pipeline_arn: str) -> None:
    hook = f"http://127.0.0.1:9/{uuid.uuid4().hex}"
    arn = create(notes, pipeline_arn, Tags={"team": "payments"})
    assert arn.startswith(f"arn:aws:codestar-notifications:us-east-1:{ACCOUNT}:notificationrule/")
    rule = notes.describe_notification_rule(Arn=arn)
    assert rule["Resource"] == pipeline_arn
    assert rule["Status"] == "ENABLED" and rule["DetailType"] == "FULL"
    assert {t["EventTypeId"] for t in rule["EventTypes"]} == {STARTED, SUCCEEDED}
    assert rule["EventTypes"][0]["ServiceName"] == "CodePipeline"
    assert rule["Targets"] == [
        {"TargetAddress": TOPIC, "TargetType": "SNS", "TargetStatus": "ACTIVE"}
    ]
    assert rule["Tags"] == {"team": "payments"}
    assert rule["CreatedBy"].startswith("arn:aws:iam::")

    notes.update_notification_rule(
        Arn=arn, Status="DISABLED", DetailType="BASIC", EventTypeIds=[SUCCEEDED]
    )
    notes.subscribe(Arn=arn, Target={"TargetType": "Webhook", "TargetAddress": hook})
    rule = notes.describe_notification_rule(Arn=arn)
    assert (rule["Status"], rule["DetailType"]) == ("DISABLED", "BASIC")
    assert [t["EventTypeId"] for t in rule["EventTypes"]] == [SUCCEEDED]
    assert {t["TargetAddress"] for t in rule["Targets"]} == {TOPIC, hook}
    assert rule["LastModifiedTimestamp"] >= rule["CreatedTimestamp"]

    listed = notes.list_notification_rules(Filters=[{"Name": "RESOURCE", "Value": pipeline_arn}])
    assert [r["Arn"] for r in listed["NotificationRules"]] == [arn]
    by_target = notes.list_notification_rules(Filters=[{"Name": "TARGET_ADDRESS", "Value": hook}])[
        "NotificationRules"
    ]
    assert [r["Arn"] for r in by_target] == [arn]
    targets = notes.list_targets(Filters=[{"Name": "TARGET_ADDRESS", "Value": hook}])["Targets"]
    assert targets == [{"TargetAddress": hook, "TargetType": "Webhook", "TargetStatus": "ACTIVE"}]

    notes.unsubscribe(Arn=arn, TargetAddress=hook)
    assert len(notes.describe_notification_rule(Arn=arn)["Targets"]) == 1
    notes.delete_target(TargetAddress=hook)
    assert notes.list_targets(Filters=[{"Name": "TARGET_ADDRESS", "Value": hook}])["Targets"] == []

    assert notes.delete_notification_rule(Arn=arn)["Arn"] == arn
    assert code(fails(notes.describe_notification_rule, Arn=arn)) == "ResourceNotFoundException"
    assert notes.delete_notification_rule(Arn=arn)["Arn"] == arn  # idempotent, as on AWS


def test_errors_are_aws_errors(notes: Any, pipeline_arn: str, server: Server) -> None:
    missing = f"arn:aws:codestar-notifications:us-east-1:{ACCOUNT}:notificationrule/{'0' * 40}"
    error = fails(notes.describe_notification_rule, Arn=missing)
    assert (code(error), status(error)) == ("ResourceNotFoundException", 404)

    error = fails(notes.describe_notification_rule, Arn="arn:aws:sns:us-east-1:1:nope")
    assert (code(error), status(error)) == ("ValidationException", 400)
    assert "failed to satisfy constraint" in error.response["Error"]["Message"]

    error = fails(
        notes.create_notification_rule,
        Name="bad-event",
        EventTypeIds=["codepipeline-pipeline-pipeline-execution-exploded"],
        Resource=pipeline_arn,
        Targets=[{"TargetType": "SNS", "TargetAddress": TOPIC}],
        DetailType="BASIC",
    )
    assert code(error) == "ValidationException"
    assert "exploded" in error.response["Error"]["Message"]

    gone = f"arn:aws:codepipeline:us-east-1:{ACCOUNT}:{unique('missing')}"
    error = fails(notes.create_notification_rule, **_rule_params(gone))
    assert code(error) == "ValidationException" and "does not exist" in str(error)

    slack = {"TargetType": "AWSChatbotSlack", "TargetAddress": "arn:aws:chatbot::1:chat"}
    error = fails(notes.create_notification_rule, **_rule_params(pipeline_arn, targets=[slack]))
    assert code(error) == "ValidationException" and "not supported by Stageline" in str(error)

    bad_url = {"TargetType": "Webhook", "TargetAddress": "ftp://example.com/x"}
    error = fails(notes.create_notification_rule, **_rule_params(pipeline_arn, targets=[bad_url]))
    assert code(error) == "ValidationException"

    params = _rule_params(pipeline_arn)
    notes.create_notification_rule(**params)
    error = fails(notes.create_notification_rule, **params)
    assert (code(error), status(error)) == ("ResourceAlreadyExistsException", 409)

    error = fails(notes.list_notification_rules, NextToken="bm90LWEtdG9rZW4=")
    assert code(error) == "InvalidNextTokenException"

    # Nothing half-written: none of the refused rules exists.
    names = {
        notes.describe_notification_rule(Arn=r["Arn"])["Name"]
        for r in notes.list_notification_rules(
            Filters=[{"Name": "RESOURCE", "Value": pipeline_arn}]
        )["NotificationRules"]
    }
    assert names == {params["Name"]}

    # Unsigned requests are refused like any AWS call.
    response = httpx.post(server.url + "/listEventTypes", json={})
    assert response.status_code == 403 and response.headers["x-amzn-errortype"]


def _rule_params(resource: str, targets: list[dict[str, str]] | None = None) -> dict[str, Any]:
    return {
        "Name": f"rule-{uuid.uuid4().hex[:12]}",
        "EventTypeIds": [SUCCEEDED],
        "Resource": resource,
        "Targets": targets or [{"TargetType": "SNS", "TargetAddress": TOPIC}],
        "DetailType": "BASIC",
    }


def test_client_request_token_makes_create_idempotent(notes: Any, pipeline_arn: str) -> None:
    params = {**_rule_params(pipeline_arn), "ClientRequestToken": uuid.uuid4().hex}
    first = notes.create_notification_rule(**params)["Arn"]
    assert notes.create_notification_rule(**params)["Arn"] == first


def test_event_types_and_paging(notes: Any, pipeline_arn: str) -> None:
    types = notes.list_event_types()["EventTypes"]
    ids = {t["EventTypeId"] for t in types}
    assert len(ids) == 18
    for slug in ("pipeline-execution-superseded", "stage-execution-resumed",
                 "action-execution-canceled", "manual-approval-needed"):  # fmt: skip
        assert f"codepipeline-pipeline-{slug}" in ids
    assert all(t["ResourceType"] == "pipeline" for t in types)
    named = notes.list_event_types(Filters=[{"Name": "SERVICE_NAME", "Value": "CodeBuild"}])
    assert named["EventTypes"] == []

    pages = list(notes.get_paginator("list_event_types").paginate(PaginationConfig={"PageSize": 5}))
    assert len(pages) == 4
    assert [t["EventTypeId"] for p in pages for t in p["EventTypes"]] == [
        t["EventTypeId"] for t in types
    ]

    made = [create(notes, pipeline_arn) for _ in range(3)]
    filters = [{"Name": "RESOURCE", "Value": pipeline_arn}]
    first = notes.list_notification_rules(Filters=filters, MaxResults=2)
    assert len(first["NotificationRules"]) == 2 and first["NextToken"]
    second = notes.list_notification_rules(
        Filters=filters, MaxResults=2, NextToken=first["NextToken"]
    )
    assert "NextToken" not in second
    listed = [r["Arn"] for r in first["NotificationRules"] + second["NotificationRules"]]
    assert listed == made
    error = fails(notes.list_targets, NextToken=first["NextToken"])
    assert code(error) == "InvalidNextTokenException"


def test_tags(notes: Any, pipeline_arn: str) -> None:
    arn = create(notes, pipeline_arn, Tags={"a": "1"})
    assert notes.tag_resource(Arn=arn, Tags={"b": "2"})["Tags"] == {"a": "1", "b": "2"}
    notes.untag_resource(Arn=arn, TagKeys=["a"])
    assert notes.list_tags_for_resource(Arn=arn)["Tags"] == {"b": "2"}
    error = fails(notes.tag_resource, Arn=arn, Tags={"aws:x": "1"})
    assert code(error) == "ValidationException"
    error = fails(notes.tag_resource, Arn=arn, Tags={f"k{i}": "v" for i in range(50)})
    assert code(error) == "ValidationException"
    missing = f"arn:aws:codestar-notifications:us-east-1:{ACCOUNT}:notificationrule/{'1' * 40}"
    assert code(fails(notes.list_tags_for_resource, Arn=missing)) == "ResourceNotFoundException"
    assert (
        code(fails(notes.untag_resource, Arn=missing, TagKeys=["b"])) == "ResourceNotFoundException"
    )


def test_the_aws_cli(aws: Any, pipeline_arn: str, server: Server) -> None:
    def ok(*args: str) -> Any:
        result = aws("codestar-notifications", *args)
        assert result.returncode == 0, result.stderr
        return result.json()

    name = f"cli-{uuid.uuid4().hex[:10]}"
    arn = ok(
        "create-notification-rule",
        "--name", name,
        "--event-type-ids", SUCCEEDED,
        "--resource", pipeline_arn,
        "--targets", f"TargetType=SNS,TargetAddress={TOPIC}",
        "--detail-type", "BASIC",
        "--tags", "env=prod",
    )["Arn"]  # fmt: skip
    assert ok("describe-notification-rule", "--arn", arn)["Name"] == name
    assert ok("list-tags-for-resource", "--arn", arn)["Tags"] == {"env": "prod"}
    ok("untag-resource", "--arn", arn, "--tag-keys", "env")
    assert ok("list-tags-for-resource", "--arn", arn)["Tags"] == {}
    types = ok("list-event-types", "--filters", "Name=SERVICE_NAME,Value=CodePipeline")
    assert len(types["EventTypes"]) == 18
    ok("delete-notification-rule", "--arn", arn)
    missing = aws("codestar-notifications", "describe-notification-rule", "--arn", arn)
    assert missing.returncode != 0 and "ResourceNotFoundException" in missing.stderr
    bad = aws(
        "codestar-notifications", "create-notification-rule", "--name", "x",
        "--event-type-ids", "nope", "--resource", pipeline_arn,
        "--targets", f"TargetType=SNS,TargetAddress={TOPIC}", "--detail-type", "BASIC",
    )  # fmt: skip
    assert bad.returncode != 0 and "ValidationException" in bad.stderr


def test_the_codepipeline_endpoint_is_undisturbed(server: Server) -> None:
    # POST / (JSON 1.1) still answers CodePipeline next to the REST-JSON routes.
    assert make_client(server.url).list_pipelines()["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert ACCESS_KEY_ID and SECRET_ACCESS_KEY
