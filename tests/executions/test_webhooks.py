"""V1 webhooks and PutActionRevision on both stacks: a delivery that passes the webhook's
authentication and JSONPath filters starts a run of an S3-sourced pipeline that really runs
(Webhook trigger with the webhook's ARN); refused deliveries start nothing; PutActionRevision
pins a run to the revision it names (in production an older version of a versioned bucket)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx
from tests.executions.declarations import approval, pipeline, s3_source, stage, unique
from tests.executions.stack import Stack
from tests.support.github_payloads import github_delivery, github_push

SECRET = "e2e-webhook-secret"
OLD, NEW = "1" * 40, "2" * 40


def s3_pipeline(stack: Stack) -> tuple[str, str]:
    name, bucket = unique("wh-e2e"), unique("src")
    stack.put_source(bucket, "app.zip", {"a.txt": "1"})
    stack.create_pipeline(
        pipeline(
            name, stage("Source", s3_source(bucket)), stage("Hold", approval()), mode="PARALLEL"
        )
    )
    return name, bucket


def put_webhook(stack: Stack, target: str, auth: str, **config: str) -> dict[str, Any]:
    definition = {
        "name": unique("hook"),
        "targetPipeline": target,
        "targetAction": "Source",
        "filters": [
            {"jsonPath": "$.ref", "matchEquals": "refs/heads/main"},
            {"jsonPath": "$.commits[*].modified[*]", "matchEquals": "{S3ObjectKey}"},
        ],
        "authentication": auth,
        "authenticationConfiguration": config,
    }
    webhook: dict[str, Any] = stack.client().put_webhook(webhook=definition)["webhook"]
    return webhook


def post(stack: Stack, url: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    parts = urlsplit(url)
    return httpx.post(
        f"{stack.server.url}{parts.path}?{parts.query}", content=body, headers=headers
    )


def count(stack: Stack, name: str) -> int:
    summaries = stack.client().list_pipeline_executions(pipelineName=name)
    return len(summaries["pipelineExecutionSummaries"])


def source_of(stack: Stack, name: str, execution_id: str) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        run = stack.execution(name, execution_id)
        return run if run.get("artifactRevisions") else None

    result: dict[str, Any] = stack.wait_for(f"the source of {execution_id}", check)
    return result


def test_webhook_deliveries_start_filtered_authenticated_runs(stack: Stack) -> None:
    name, _ = s3_pipeline(stack)
    hmac = put_webhook(stack, name, "GITHUB_HMAC", SecretToken=SECRET)
    local = put_webhook(stack, name, "IP", AllowedIPRange="127.0.0.1/32")
    remote = put_webhook(stack, name, "IP", AllowedIPRange="192.0.2.0/24")
    anyone = put_webhook(stack, name, "UNAUTHENTICATED")

    matching = github_push("octo/app", "refs/heads/main", OLD, NEW, {"modified": ["app.zip"]})
    other_file = github_push("octo/app", "refs/heads/main", OLD, NEW, {"modified": ["x.txt"]})
    body, signed = github_delivery("push", matching, SECRET)
    _, forged = github_delivery("push", matching, "guess")
    assert post(stack, hmac["url"], body, forged).status_code == 403
    assert post(stack, remote["url"], body, signed).status_code == 403
    unmatched = post(stack, anyone["url"], *github_delivery("push", other_file, None))
    assert unmatched.json()["started"] is False
    assert count(stack, name) == 1

    for webhook, headers in ((hmac, signed), (local, signed), (anyone, signed)):
        answer = post(stack, webhook["url"], body, headers)
        assert answer.status_code == 200 and answer.json()["started"] is True, answer.text
        run = source_of(stack, name, answer.json()["pipelineExecutionId"])
        assert run["trigger"] == {"triggerType": "Webhook", "triggerDetail": webhook["arn"]}
    assert count(stack, name) == 4
    assert SECRET not in stack.logs()


def test_put_action_revision_pins_the_run(stack: Stack) -> None:
    name, bucket = s3_pipeline(stack)
    client = stack.client()
    first = source_of(
        stack,
        name,
        client.list_pipeline_executions(pipelineName=name)["pipelineExecutionSummaries"][0][
            "pipelineExecutionId"
        ],
    )["artifactRevisions"][0]["revisionId"]
    where = {"pipelineName": name, "stageName": "Source", "actionName": "Source"}

    def put(revision: str) -> dict[str, Any]:
        answer: dict[str, Any] = client.put_action_revision(
            **where,
            actionRevision={"revisionId": revision, "revisionChangeId": revision, "created": 0},
        )
        return answer

    assert put(first)["newRevision"] is False
    second = stack.put_source(bucket, "app.zip", {"a.txt": "2"})
    answer = put(second)
    assert answer["newRevision"] is True
    run = source_of(stack, name, answer["pipelineExecutionId"])
    assert run["trigger"]["triggerType"] == "PutActionRevision"
    assert run["artifactRevisions"][0]["revisionId"] == second
    assert put(second)["newRevision"] is False
    assert count(stack, name) == 2
    if stack.mode == "production":
        # A versioned bucket: the older version can still be asked for, and is run.
        older = put(first)
        assert older["newRevision"] is True
        run = source_of(stack, name, older["pipelineExecutionId"])
        assert run["artifactRevisions"][0]["revisionId"] == first
