"""The job protocol's raw responses fit botocore's output shapes (the walker of
test_response_shapes, on SQLite and Postgres): custom-action jobs and third-party jobs."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from tests.executions.declarations import pipeline as execution_pipeline
from tests.executions.declarations import s3_source, stage, unique
from tests.integration.test_response_shapes import call, output_violations, put_source
from tests.support.servers import Server

from stageline.aws.codepipeline_jobs import HANDLERS as JOB_HANDLERS

GITHUB_V1 = {"category": "Source", "owner": "ThirdParty", "provider": "GitHub", "version": "1"}


def _custom_job(server: Server) -> tuple[dict[str, str], dict[str, Any]]:
    """A custom action type, a pipeline using it, and its first job, polled."""
    type_id = {
        "category": "Test",
        "owner": "Custom",
        "provider": unique("Shape")[:30],
        "version": "1",
    }
    call(
        server,
        "CreateCustomActionType",
        {
            "category": "Test",
            "provider": type_id["provider"],
            "version": "1",
            "configurationProperties": [
                {"name": "Suite", "required": True, "key": True, "secret": False, "queryable": True}
            ],
            "inputArtifactDetails": {"minimumCount": 1, "maximumCount": 1},
            "outputArtifactDetails": {"minimumCount": 0, "maximumCount": 0},
        },
    )
    bucket = unique("src")
    put_source(server, bucket)
    action = {
        "name": "Outside",
        "actionTypeId": type_id,
        "configuration": {"Suite": "smoke"},
        "inputArtifacts": [{"name": "SourceOutput"}],
    }
    declaration = execution_pipeline(
        unique("shape-job"), stage("Source", s3_source(bucket)), stage("Outside", action)
    )
    call(server, "CreatePipeline", {"pipeline": declaration})
    return type_id, _poll(
        server, "PollForJobs", {"actionTypeId": type_id, "queryParam": {"Suite": "smoke"}}
    )


def _poll(server: Server, operation: str, params: dict[str, Any]) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        body = call(server, operation, params)
        if body.get("jobs"):
            return body
        time.sleep(0.1)
    raise AssertionError(f"{operation} found no job")


def custom_jobs(server: Server) -> dict[str, list[dict[str, Any]]]:
    _, polled = _custom_job(server)
    job = polled["jobs"][0]
    first = {"jobId": job["id"], "nonce": job["nonce"]}
    bodies: dict[str, list[dict[str, Any]]] = {
        "PollForJobs": [polled],
        "AcknowledgeJob": [call(server, "AcknowledgeJob", first)],
        "GetJobDetails": [call(server, "GetJobDetails", {"jobId": job["id"]})],
        "PutJobSuccessResult": [
            call(
                server,
                "PutJobSuccessResult",
                {
                    "jobId": job["id"],
                    "continuationToken": "again",
                    "executionDetails": {"summary": "half", "percentComplete": 50},
                },
            )
        ],
    }
    second_poll = _poll(
        server,
        "PollForJobs",
        {"actionTypeId": job["data"]["actionTypeId"], "queryParam": {"Suite": "smoke"}},
    )
    second = second_poll["jobs"][0]
    call(server, "AcknowledgeJob", {"jobId": second["id"], "nonce": second["nonce"]})
    bodies["PutJobFailureResult"] = [
        call(
            server,
            "PutJobFailureResult",
            {"jobId": second["id"], "failureDetails": {"type": "JobFailed", "message": "no"}},
        )
    ]
    return bodies


def third_party_jobs(server: Server) -> dict[str, list[dict[str, Any]]]:
    bodies: dict[str, list[dict[str, Any]]] = {}
    for outcome in ("success", "failure"):
        source = {
            "name": "Source",
            "actionTypeId": GITHUB_V1,
            "configuration": {"Owner": "o", "Repo": "r", "Branch": "main", "OAuthToken": "t"},
            "outputArtifacts": [{"name": "SourceOutput"}],
        }
        hold = {
            "name": "Hold",
            "actionTypeId": {
                "category": "Approval",
                "owner": "AWS",
                "provider": "Manual",
                "version": "1",
            },
        }
        declaration = execution_pipeline(
            unique("shape-3p"), stage("Source", source), stage("Hold", hold)
        )
        call(server, "CreatePipeline", {"pipeline": declaration})
        polled = _poll(server, "PollForThirdPartyJobs", {"actionTypeId": GITHUB_V1})
        job_id = polled["jobs"][0]["jobId"]
        token = {"jobId": job_id, "clientToken": "partner"}
        details = call(server, "GetThirdPartyJobDetails", token)
        nonce = details["jobDetails"]["nonce"]
        acked = call(server, "AcknowledgeThirdPartyJob", {**token, "nonce": nonce})
        if outcome == "success":
            result = call(
                server,
                "PutThirdPartyJobSuccessResult",
                {**token, "currentRevision": {"revision": "abc", "changeIdentifier": "abc"}},
            )
            bodies.update(
                PollForThirdPartyJobs=[polled],
                GetThirdPartyJobDetails=[details],
                AcknowledgeThirdPartyJob=[acked],
                PutThirdPartyJobSuccessResult=[result],
            )
        else:
            failure = {"type": "RevisionUnavailable", "message": "gone"}
            bodies["PutThirdPartyJobFailureResult"] = [
                call(server, "PutThirdPartyJobFailureResult", {**token, "failureDetails": failure})
            ]
    return bodies


Scenario = Callable[[Server], dict[str, list[dict[str, Any]]]]
COVERS: dict[Scenario, set[str]] = {
    custom_jobs: {
        "PollForJobs",
        "AcknowledgeJob",
        "GetJobDetails",
        "PutJobSuccessResult",
        "PutJobFailureResult",
    },
    third_party_jobs: {
        "PollForThirdPartyJobs",
        "GetThirdPartyJobDetails",
        "AcknowledgeThirdPartyJob",
        "PutThirdPartyJobSuccessResult",
        "PutThirdPartyJobFailureResult",
    },
}


def test_every_job_operation_has_a_scenario() -> None:
    assert set().union(*COVERS.values()) == set(JOB_HANDLERS)


@pytest.mark.parametrize("group", list(COVERS), ids=lambda g: g.__name__)
def test_job_responses_fit_the_output_shapes(server: Server, group: Scenario) -> None:
    bodies = group(server)
    assert set(bodies) == COVERS[group]
    for operation, responses in bodies.items():
        assert responses
        for body in responses:
            assert output_violations(operation, body) == [], operation
