"""The job protocol end to end, on both shapes of Stageline: custom actions served by a job
worker written with plain boto3 (tests/executions/plain_job_worker.py, a separate process),
third-party jobs, competing workers, nonces, continuation tokens, failures and timeouts."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
import zipfile
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from tests.executions.declarations import commands, pipeline, s3_source, stage, unique
from tests.executions.stack import Stack
from tests.support.servers import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY

WORKER = Path(__file__).with_name("plain_job_worker.py")
PROD = {"Target": "prod"}  # the queryable property: job workers must name it when polling


def custom_type(stack: Stack, provider: str, **extra: Any) -> dict[str, str]:
    stack.client().create_custom_action_type(
        category="Build",
        provider=provider,
        version="1",
        settings={"executionUrlTemplate": "https://outside.example/runs/{ExternalExecutionId}"},
        configurationProperties=[
            {
                "name": "Target",
                "required": True,
                "key": True,
                "secret": False,
                "queryable": True,
                "type": "String",
            },
            {
                "name": "Password",
                "required": False,
                "key": False,
                "secret": True,
                "queryable": False,
                "type": "String",
            },
        ],
        inputArtifactDetails={"minimumCount": 1, "maximumCount": 1},
        outputArtifactDetails={"minimumCount": 0, "maximumCount": 1},
        **extra,
    )
    return {"category": "Build", "owner": "Custom", "provider": provider, "version": "1"}


def custom_action(
    type_id: dict[str, str], name: str = "Outside", target: str = "prod", output: bool = True
) -> dict[str, Any]:
    action: dict[str, Any] = {
        "name": name,
        "actionTypeId": type_id,
        "configuration": {"Target": target, "Password": "hunter2"},
        "inputArtifacts": [{"name": "SourceOutput"}],
        "namespace": f"{name}Ns",
    }
    if output:
        action["outputArtifacts"] = [{"name": f"{name}Out"}]
    return action


def worker(stack: Stack, type_id: dict[str, str], mode: str, *extra: str) -> subprocess.Popen[str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
        "AWS_DEFAULT_REGION": REGION,
    }
    return subprocess.Popen(
        [
            sys.executable,
            str(WORKER),
            stack.server.url,
            type_id["category"],
            type_id["provider"],
            type_id["version"],
            mode,
            *extra,
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finished(process: subprocess.Popen[str], timeout: float = 60) -> str:
    out, _ = process.communicate(timeout=timeout)
    return out


def run_with(stack: Stack, type_id: dict[str, str], *actions: dict[str, Any]) -> tuple[str, str]:
    bucket, name = unique("jobsrc"), unique("jobs")
    stack.put_source(bucket, "app.zip", {"app.txt": "v1"})
    declaration = pipeline(name, stage("Source", s3_source(bucket)), stage("Work", *actions))
    return name, stack.create_pipeline(declaration)


def action_row(stack: Stack, name: str, execution_id: str, action: str) -> dict[str, Any]:
    rows = stack.action_executions(name, execution_id)
    row: dict[str, Any] = next(r for r in rows if r["actionName"] == action)
    return row


def error_code(call: Any) -> str:
    with pytest.raises(ClientError) as caught:
        call()
    return str(caught.value.response["Error"]["Code"])


def test_a_custom_action_runs_through_a_plain_boto3_job_worker(stack: Stack) -> None:
    type_id = custom_type(stack, unique("Outside"))
    bucket, name = unique("jobsrc"), unique("jobs")
    stack.put_source(bucket, "app.zip", {"app.txt": "v1"})
    declaration = pipeline(
        name,
        stage("Source", s3_source(bucket)),
        stage("Work", custom_action(type_id)),
        stage(
            "Check",
            commands(
                "Check",
                ['test "$(cat result.txt)" = "prod:v1"', 'test "#{OutsideNs.RESULT}" = "prod:v1"'],
                inputs=("OutsideOut",),
            ),
        ),
    )
    execution_id = stack.create_pipeline(declaration)
    process = worker(stack, type_id, "succeed")
    stack.wait(name, execution_id)
    assert process.wait(timeout=30) == 0, finished(process)
    row = action_row(stack, name, execution_id, "Outside")
    result = row["output"]["executionResult"]
    assert result["externalExecutionId"] == "ext-1"
    assert result["externalExecutionSummary"] == "done outside"
    assert row["output"]["outputVariables"] == {"RESULT": "prod:v1"}
    # The secret property reached the worker but is never shown back.
    assert row["input"]["configuration"] == {"Target": "prod", "Password": "****"}
    assert row["input"]["resolvedConfiguration"]["Password"] == "****"


def test_nonces_missing_jobs_and_finished_jobs(stack: Stack) -> None:
    type_id = custom_type(stack, unique("Nonce"))
    name, execution_id = run_with(stack, type_id, custom_action(type_id, output=False))
    cp = stack.client()
    job = stack.wait_for(
        "a job", lambda: cp.poll_for_jobs(actionTypeId=type_id, queryParam=PROD)["jobs"]
    )[0]
    assert job["data"]["actionConfiguration"]["configuration"]["Target"] == "prod"
    assert job["data"]["pipelineContext"]["pipelineName"] == name
    assert set(job["data"]["artifactCredentials"]) == {
        "accessKeyId",
        "secretAccessKey",
        "sessionToken",
    }
    assert cp.poll_for_jobs(actionTypeId=type_id, queryParam=PROD)["jobs"] == []  # handed out once

    assert (
        error_code(lambda: cp.acknowledge_job(jobId=job["id"], nonce="wrong"))
        == "InvalidNonceException"
    )
    missing = "00000000-0000-0000-0000-000000000000"
    assert error_code(lambda: cp.get_job_details(jobId=missing)) == "JobNotFoundException"
    assert (
        error_code(lambda: cp.acknowledge_job(jobId=missing, nonce="x")) == "JobNotFoundException"
    )
    assert cp.acknowledge_job(jobId=job["id"], nonce=job["nonce"])["status"] == "InProgress"
    assert cp.get_job_details(jobId=job["id"])["jobDetails"]["id"] == job["id"]
    cp.put_job_success_result(jobId=job["id"], outputVariables={"A": "1"})
    stack.wait(name, execution_id)
    assert (
        error_code(lambda: cp.put_job_success_result(jobId=job["id"])) == "InvalidJobStateException"
    )
    assert (
        error_code(
            lambda: cp.put_job_failure_result(
                jobId=job["id"], failureDetails={"type": "JobFailed", "message": "late"}
            )
        )
        == "InvalidJobStateException"
    )


def test_query_params_pick_jobs_by_their_queryable_property(stack: Stack) -> None:
    type_id = custom_type(stack, unique("Query"))
    name, execution_id = run_with(stack, type_id, custom_action(type_id, target="eu", output=False))
    cp = stack.client()
    stack.wait_for("the job", lambda: stack.state(name)["stageStates"][1].get("latestExecution"))
    assert cp.poll_for_jobs(actionTypeId=type_id, queryParam={"Target": "us"})["jobs"] == []
    assert error_code(lambda: cp.poll_for_jobs(actionTypeId=type_id)) == "ValidationException"
    jobs = stack.wait_for(
        "a job for eu",
        lambda: cp.poll_for_jobs(actionTypeId=type_id, queryParam={"Target": "eu"})["jobs"],
    )
    cp.acknowledge_job(jobId=jobs[0]["id"], nonce=jobs[0]["nonce"])
    cp.put_job_success_result(jobId=jobs[0]["id"])
    stack.wait(name, execution_id)


def test_continuation_tokens_keep_the_action_running(stack: Stack) -> None:
    type_id = custom_type(stack, unique("Cont"))
    name, execution_id = run_with(stack, type_id, custom_action(type_id))
    process = worker(stack, type_id, "continue")
    stack.wait(name, execution_id)
    assert process.wait(timeout=30) == 0, finished(process)
    row = action_row(stack, name, execution_id, "Outside")
    assert row["output"]["outputVariables"] == {"RESULT": "prod:v1", "TOKEN": "step-1"}


def test_a_failure_result_fails_the_action(stack: Stack) -> None:
    type_id = custom_type(stack, unique("Fail"))
    name, execution_id = run_with(stack, type_id, custom_action(type_id))
    process = worker(stack, type_id, "fail")
    stack.wait(name, execution_id, "Failed")
    process.wait(timeout=30)
    result = action_row(stack, name, execution_id, "Outside")["output"]["executionResult"]
    assert result["errorDetails"] == {"code": "JobFailed", "message": "the outside system said no"}
    assert result["externalExecutionId"] == "ext-42"


def test_two_competing_workers_never_take_the_same_job(stack: Stack, tmp_path: Path) -> None:
    type_id = custom_type(stack, unique("Race"))
    actions = [custom_action(type_id, name=f"Job{i}", output=False) for i in range(6)]
    name, execution_id = run_with(stack, type_id, *actions)
    out = tmp_path / "claims.jsonl"
    workers = [
        worker(stack, type_id, "claim", "--seconds", "25", "--out", str(out)) for _ in range(2)
    ]
    stack.wait(name, execution_id, timeout=90)
    for process in workers:
        process.kill()
        process.wait(timeout=10)
    claims = [json.loads(line) for line in out.read_text().splitlines()]
    jobs = [c["job"] for c in claims]
    assert len(jobs) == 6 and len(set(jobs)) == 6, claims


def test_concurrent_polls_hand_a_job_to_exactly_one_poller(stack: Stack) -> None:
    type_id = custom_type(stack, unique("Many"))
    name, execution_id = run_with(stack, type_id, custom_action(type_id, output=False))
    stack.wait_for(
        "the action to wait", lambda: stack.state(name)["stageStates"][1].get("latestExecution")
    )
    barrier, got, errors = threading.Barrier(8), [], []

    def poll() -> None:
        client = stack.client()
        barrier.wait()
        try:
            got.extend(
                client.poll_for_jobs(actionTypeId=type_id, maxBatchSize=5, queryParam=PROD)["jobs"]
            )
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=poll) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert len(got) == 1, got
    cp = stack.client()
    cp.acknowledge_job(jobId=got[0]["id"], nonce=got[0]["nonce"])
    cp.put_job_success_result(jobId=got[0]["id"])
    stack.wait(name, execution_id)


def test_a_job_never_acknowledged_fails_its_action(stack: Stack) -> None:
    type_id = custom_type(stack, unique("NoAck"))
    name, execution_id = run_with(stack, type_id, custom_action(type_id, output=False))
    cp = stack.client()
    stack.wait_for("a job", lambda: cp.poll_for_jobs(actionTypeId=type_id, queryParam=PROD)["jobs"])
    stack.wait(name, execution_id, "Failed", timeout=60)
    message = action_row(stack, name, execution_id, "Outside")["output"]["executionResult"][
        "errorDetails"
    ]["message"]
    assert "did not acknowledge" in message


@pytest.mark.production_only
@pytest.mark.timeout(8 * 60)
def test_a_worker_that_dies_after_acknowledging_fails_the_action_at_its_timeout(
    stack: Stack,
) -> None:
    """The action's own timeoutInMinutes bounds a job (5 minutes is the model's minimum, so
    this test waits that long, on the production stack only)."""
    type_id = custom_type(stack, unique("Dies"))
    action = {**custom_action(type_id, output=False), "timeoutInMinutes": 5}
    name, execution_id = run_with(stack, type_id, action)
    process = worker(stack, type_id, "die")
    assert process.wait(timeout=60) == 3
    stack.wait(name, execution_id, "Failed", timeout=7 * 60)
    row = action_row(stack, name, execution_id, "Outside")
    assert row["output"]["executionResult"]["errorDetails"]["code"] == "TimedOut"


# -- third-party jobs ---------------------------------------------------------------------------


def github_v1(output: str = "SourceOutput") -> dict[str, Any]:
    return {
        "name": "Source",
        "actionTypeId": {
            "category": "Source",
            "owner": "ThirdParty",
            "provider": "GitHub",
            "version": "1",
        },
        "configuration": {
            "Owner": "octo",
            "Repo": "app",
            "Branch": "main",
            "OAuthToken": "secret-token",
        },
        "outputArtifacts": [{"name": output}],
    }


def test_a_third_party_job_with_client_tokens(stack: Stack) -> None:
    name = unique("3p")
    declaration = pipeline(
        name,
        stage("Source", github_v1()),
        stage("Check", commands("Check", ['test "$(cat README)" = "from the partner"'])),
    )
    execution_id = stack.create_pipeline(declaration)
    cp = stack.client()
    type_id = github_v1()["actionTypeId"]
    jobs = stack.wait_for(
        "a third-party job", lambda: cp.poll_for_third_party_jobs(actionTypeId=type_id)["jobs"]
    )
    job_id = jobs[0]["jobId"]
    details = cp.get_third_party_job_details(jobId=job_id, clientToken="partner-token")[
        "jobDetails"
    ]
    assert details["data"]["actionConfiguration"]["configuration"]["Repo"] == "app"
    assert (
        error_code(lambda: cp.get_third_party_job_details(jobId=job_id, clientToken="someone-else"))
        == "InvalidClientTokenException"
    )
    assert (
        cp.acknowledge_third_party_job(
            jobId=job_id, nonce=details["nonce"], clientToken="partner-token"
        )["status"]
        == "InProgress"
    )

    creds = details["data"]["artifactCredentials"]
    where = details["data"]["outputArtifacts"][0]["location"]["s3Location"]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("README", "from the partner")
    boto3.client(
        "s3",
        endpoint_url=stack.server.url,
        region_name=REGION,
        aws_access_key_id=creds["accessKeyId"],
        aws_secret_access_key=creds["secretAccessKey"],
        aws_session_token=creds["sessionToken"],
    ).put_object(Bucket=where["bucketName"], Key=where["objectKey"], Body=buffer.getvalue())
    cp.put_third_party_job_success_result(
        jobId=job_id,
        clientToken="partner-token",
        currentRevision={
            "revision": "abc123",
            "changeIdentifier": "abc123",
            "revisionSummary": "Fix the thing",
        },
        executionDetails={"summary": "fetched"},
    )
    stack.wait(name, execution_id)
    revisions = stack.execution(name, execution_id)["artifactRevisions"]
    assert revisions[0]["revisionId"] == "abc123"
    assert revisions[0]["revisionSummary"] == "Fix the thing"
