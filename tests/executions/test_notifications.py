"""SNS notifications on both stacks, through moto's server (AWS_ENDPOINT_URL_SNS): a
notification rule's STARTED and SUCCEEDED pipeline events, and a Manual approval's request
published to its NotificationArn — read back from an SQS queue subscribed to the topic."""

from __future__ import annotations

import json
import time
from typing import Any

from tests.executions.declarations import approval, commands, pipeline, s3_source, stage, unique
from tests.executions.stack import Stack
from tests.executions.test_events import notes

REGION = "us-east-1"


def topic_with_queue(stack: Stack) -> tuple[str, str]:
    """A fresh SNS topic on moto with an SQS queue subscribed; (topic ARN, queue URL)."""
    sns, sqs = stack.aws("sns"), stack.aws("sqs")
    topic = sns.create_topic(Name=unique("notes"))["TopicArn"]
    queue = sqs.create_queue(QueueName=unique("inbox"))["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    return topic, queue


def read_messages(
    stack: Stack, queue: str, count: int, timeout: float = 60
) -> list[dict[str, Any]]:
    """The SNS envelopes of the first `count` messages on the queue."""
    sqs = stack.aws("sqs")
    found: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while len(found) < count and time.monotonic() < deadline:
        batch = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        for message in batch.get("Messages", []):
            found.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
    assert len(found) >= count, f"{len(found)} of {count} messages in {timeout:g} s\n{stack.logs()}"
    return found


def test_a_rule_with_an_sns_target_sends_started_and_succeeded(stack: Stack) -> None:
    name, bucket = unique("e2e-sns"), unique("src")
    stack.put_source(bucket, "app.zip", {"a.txt": "a"})
    declaration = pipeline(
        name, stage("Source", s3_source(bucket)), stage("Build", commands("Build", ["true"]))
    )
    stack.wait(name, stack.create_pipeline(declaration))
    topic, queue = topic_with_queue(stack)
    arn = f"arn:aws:codepipeline:{REGION}:000000000000:{name}"
    rule = notes(stack).create_notification_rule(
        Name=unique("sns"),
        EventTypeIds=[
            "codepipeline-pipeline-pipeline-execution-started",
            "codepipeline-pipeline-pipeline-execution-succeeded",
        ],
        Resource=arn,
        Targets=[{"TargetType": "SNS", "TargetAddress": topic}],
        DetailType="FULL",
    )["Arn"]

    execution_id = stack.start(name)
    stack.wait(name, execution_id)
    envelopes = read_messages(stack, queue, 2)
    assert all(e["TopicArn"] == topic for e in envelopes)
    messages = [json.loads(e["Message"]) for e in envelopes]
    assert [m["detail"]["state"] for m in messages] == ["STARTED", "SUCCEEDED"]
    for message in messages:
        assert message["detailType"] == "CodePipeline Pipeline Execution State Change"
        assert message["source"] == "aws.codepipeline"
        assert message["notificationRuleArn"] == rule
        assert message["detail"]["execution-id"] == execution_id
        assert message["detail"]["pipeline"] == name
        assert message["resources"] == [arn]
        assert "additionalAttributes" in message  # FULL
    targets = notes(stack).list_targets(Filters=[{"Name": "TARGET_ADDRESS", "Value": topic}])
    assert targets["Targets"][0]["TargetStatus"] == "ACTIVE"


def test_a_manual_approval_publishes_its_request_to_the_notification_topic(stack: Stack) -> None:
    name, bucket = unique("e2e-approval-sns"), unique("src")
    topic, queue = topic_with_queue(stack)
    stack.put_source(bucket, "app.zip", {"a.txt": "a"})
    gate = approval("Approve", summary="Look at v1", link="https://example.com/v1")
    gate["configuration"]["NotificationArn"] = topic
    execution_id = stack.create_pipeline(
        pipeline(name, stage("Source", s3_source(bucket)), stage("Gate", gate))
    )

    envelope = read_messages(stack, queue, 1)[0]
    assert envelope["Subject"].startswith("APPROVAL NEEDED")
    message = json.loads(envelope["Message"])
    state = stack.state(name)["stageStates"][1]["actionStates"][0]["latestExecution"]
    assert message["region"] == REGION
    assert message["consoleLink"].startswith("http")
    request = message["approval"]
    assert request["pipelineName"] == name
    assert (request["stageName"], request["actionName"]) == ("Gate", "Approve")
    assert request["token"] == state["token"]
    assert request["customData"] == "Look at v1"
    assert request["externalEntityLink"] == "https://example.com/v1"
    assert request["token"] in request["approvalReviewLink"]
    assert request["expires"].endswith("Z")

    stack.client().put_approval_result(
        pipelineName=name,
        stageName="Gate",
        actionName="Approve",
        result={"status": "Approved", "summary": "ok"},
        token=request["token"],
    )
    stack.wait(name, execution_id)
