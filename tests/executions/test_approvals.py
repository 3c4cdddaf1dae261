"""Manual approvals wait in the database for PutApprovalResult, holding no worker."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from tests.executions.declarations import approval, commands, pipeline, s3_source, stage, unique
from tests.executions.stack import Stack

SUMMARY = "Check the release notes of v1"
LINK = "https://example.com/releases/v1"


def waiting_approval(stack: Stack, name: str, execution_id: str) -> dict[str, Any]:
    """The Approve action's latest state once this execution waits on it."""

    def check() -> dict[str, Any] | None:
        state = stack.state(name)["stageStates"][1]
        action: dict[str, Any] = state["actionStates"][0]
        latest = action.get("latestExecution") or {}
        running = (state.get("latestExecution") or {}).get("pipelineExecutionId")
        if running == execution_id and latest.get("status") == "InProgress":
            return action
        return None

    found: dict[str, Any] = stack.wait_for(f"{execution_id} to wait for approval", check)
    return found


def result(status: str, summary: str) -> dict[str, str]:
    return {"status": status, "summary": summary}


def test_an_approval_waits_for_a_person_then_approves_or_rejects(stack: Stack) -> None:
    name, bucket = unique("e2e-approval"), unique("src")
    stack.put_source(bucket, "app.zip", {"a.txt": "a"})
    declaration = pipeline(
        name,
        stage("Source", s3_source(bucket)),
        stage("Gate", approval("Approve", summary=SUMMARY, link=LINK)),
        stage("Ship", commands("Ship", ["true"])),
    )
    client = stack.client()
    errors = client.exceptions

    first = stack.create_pipeline(declaration)
    action = waiting_approval(stack, name, first)
    latest = action["latestExecution"]
    token = latest["token"]
    assert uuid.UUID(token)
    assert latest["summary"] == SUMMARY
    assert latest["externalExecutionUrl"] == LINK
    assert stack.execution(name, first)["status"] == "InProgress"

    def put(status: str, token: str) -> Any:
        return client.put_approval_result(
            pipelineName=name,
            stageName="Gate",
            actionName="Approve",
            result=result(status, f"{status} by the test"),
            token=token,
        )

    with pytest.raises(errors.InvalidApprovalTokenException):
        put("Approved", str(uuid.uuid4()))
    with pytest.raises(errors.ActionNotFoundException):
        client.put_approval_result(
            pipelineName=name,
            stageName="Gate",
            actionName="NoSuchAction",
            result=result("Approved", "x"),
            token=token,
        )
    assert stack.execution(name, first)["status"] == "InProgress"

    approved = put("Approved", token)
    assert "approvedAt" in approved
    stack.wait(name, first, "Succeeded")
    with pytest.raises(errors.ApprovalAlreadyCompletedException):
        put("Approved", token)
    with pytest.raises(errors.ApprovalAlreadyCompletedException):
        put("Rejected", token)
    row = next(r for r in stack.action_executions(name, first) if r["actionName"] == "Approve")
    assert row["status"] == "Succeeded"
    assert row["output"]["executionResult"]["externalExecutionSummary"] == "Approved by the test"
    assert row["updatedBy"]

    second = stack.start(name)
    action = waiting_approval(stack, name, second)
    second_token = action["latestExecution"]["token"]
    assert second_token != token

    put("Rejected", second_token)
    failed = stack.wait(name, second, "Failed")
    assert "Rejected by the test" in failed["statusSummary"]
    ship_runs = [r for r in stack.action_executions(name, second) if r["actionName"] == "Ship"]
    assert ship_runs == []
