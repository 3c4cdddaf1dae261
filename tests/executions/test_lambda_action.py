"""Invoke / AWS / Lambda / 1 end to end, on both shapes of Stageline.

A small Lambda-compatible endpoint (tests/executions/lambda_endpoint.py) runs in this test
process on the socket the stacks reserved for it (`stack.lambda_socket()`; the Stageline
processes find it through AWS_ENDPOINT_URL_LAMBDA). Its functions call Stageline back with
plain boto3: PutJobSuccessResult (output variables, continuation tokens) or
PutJobFailureResult, and read and write artifacts with the job's credentials.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from tests.executions.declarations import ARTIFACT_BUCKET, commands, pipeline, s3_source, stage
from tests.executions.declarations import unique as unique_name
from tests.executions.lambda_endpoint import ACCOUNT_ID, LambdaEndpoint, serve
from tests.executions.stack import Stack, lambda_socket
from tests.support.servers import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY

EVENT_DATA = {"actionConfiguration", "inputArtifacts", "outputArtifacts", "artifactCredentials"}


@pytest.fixture(scope="session")
def lambda_endpoint() -> Iterator[LambdaEndpoint]:
    """Serve the socket the stacks point AWS_ENDPOINT_URL_LAMBDA at (never closed: it is the
    session's reservation of the port)."""
    endpoint = LambdaEndpoint()
    server = serve(endpoint, lambda_socket())
    yield endpoint
    server.shutdown()


@pytest.fixture
def endpoint(lambda_endpoint: LambdaEndpoint) -> Iterator[LambdaEndpoint]:
    """The endpoint, failing the test when one of its functions raised."""
    with lambda_endpoint.lock:
        lambda_endpoint.errors.clear()
    yield lambda_endpoint
    assert not lambda_endpoint.errors, "\n".join(lambda_endpoint.errors)


# --- what a function does: plain boto3 against Stageline ----------------------------------------


def codepipeline(stack: Stack) -> Any:
    return boto3.client(
        "codepipeline",
        endpoint_url=stack.server.url,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
        config=Config(retries={"max_attempts": 2}, read_timeout=30),
    )


def artifact_s3(stack: Stack, event: dict[str, Any]) -> Any:
    """An S3 client on Stageline's artifact endpoint with the job's own credentials."""
    creds = event["CodePipeline.job"]["data"]["artifactCredentials"]
    return boto3.client(
        "s3",
        endpoint_url=stack.server.url,
        region_name=REGION,
        aws_access_key_id=creds["accessKeyId"],
        aws_secret_access_key=creds["secretAccessKey"],
        aws_session_token=creds["sessionToken"],
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}),
    )


def job_of(event: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    job = event["CodePipeline.job"]
    return str(job["id"]), job["data"]


def action_row(stack: Stack, name: str, execution_id: str, action: str) -> dict[str, Any]:
    rows = [r for r in stack.action_executions(name, execution_id) if r["actionName"] == action]
    return rows[-1]


def lambda_action(
    function: str,
    *,
    name: str = "Invoke",
    user_parameters: str | None = None,
    inputs: tuple[str, ...] = ("SourceOutput",),
    outputs: tuple[str, ...] = (),
    namespace: str | None = None,
) -> dict[str, Any]:
    configuration = {"FunctionName": function}
    if user_parameters is not None:
        configuration["UserParameters"] = user_parameters
    action: dict[str, Any] = {
        "name": name,
        "actionTypeId": {
            "category": "Invoke",
            "owner": "AWS",
            "provider": "Lambda",
            "version": "1",
        },
        "configuration": configuration,
        "inputArtifacts": [{"name": i} for i in inputs],
        "outputArtifacts": [{"name": o} for o in outputs],
    }
    if namespace:
        action["namespace"] = namespace
    return action


def run(stack: Stack, *stages: dict[str, Any]) -> tuple[str, str, str]:
    """A pipeline with an S3 source and `stages`; (pipeline, execution id, source revision)."""
    bucket, name = unique_name("lambdasrc"), unique_name("lambda")
    revision = stack.put_source(bucket, "app.zip", {"app.txt": "v1"})
    declaration = pipeline(name, stage("Source", s3_source(bucket)), *stages)
    return name, stack.create_pipeline(declaration), revision


# --- end to end ---------------------------------------------------------------------------------


def test_a_function_reports_success_with_output_variables(
    stack: Stack, endpoint: LambdaEndpoint
) -> None:
    def greet(event: dict[str, Any]) -> None:
        job_id, data = job_of(event)
        who = json.loads(data["actionConfiguration"]["configuration"]["UserParameters"])["who"]
        codepipeline(stack).put_job_success_result(
            jobId=job_id,
            outputVariables={"greeting": f"hello {who}"},
            executionDetails={"summary": "greeted", "externalExecutionId": "run-7"},
        )

    function = endpoint.register("greet", greet)
    name, execution_id, revision = run(
        stack,
        stage(
            "Invoke",
            lambda_action(
                function,
                user_parameters='{"who": "world"}',
                outputs=("LambdaOut",),
                namespace="LambdaNs",
            ),
        ),
        stage("Check", commands("Check", ['test "#{LambdaNs.greeting}" = "hello world"'])),
    )
    stack.wait(name, execution_id)

    (call,) = endpoint.calls(function)
    assert call.invocation_type == "Event"  # asynchronous, as CodePipeline invokes
    assert call.scope.endswith(f"/{REGION}/lambda/aws4_request")  # boto3's standard config
    job_id, data = job_of(call.event)
    assert call.event["CodePipeline.job"]["accountId"] == ACCOUNT_ID
    assert set(data) == EVENT_DATA  # no continuation token on a first job
    assert data["actionConfiguration"] == {
        "configuration": {"FunctionName": function, "UserParameters": '{"who": "world"}'}
    }
    (source,) = data["inputArtifacts"]
    assert source["name"] == "SourceOutput" and source["revision"] == revision
    assert source["location"]["type"] == "S3"
    assert source["location"]["s3Location"]["bucketName"] == ARTIFACT_BUCKET
    (out,) = data["outputArtifacts"]
    assert out["name"] == "LambdaOut" and out["revision"] is None
    assert out["location"]["s3Location"]["objectKey"].startswith(f"{name[:20]}/LambdaOut/")
    credentials = data["artifactCredentials"]
    assert set(credentials) == {"accessKeyId", "secretAccessKey", "sessionToken", "expirationTime"}
    expires = datetime.fromtimestamp(credentials["expirationTime"] / 1000, UTC)
    assert datetime.now(UTC) < expires < datetime.now(UTC) + timedelta(hours=2)

    row = action_row(stack, name, execution_id, "Invoke")
    assert row["status"] == "Succeeded"
    assert row["output"]["outputVariables"] == {"greeting": "hello world"}
    assert row["output"]["executionResult"]["externalExecutionId"] == "run-7"
    assert row["output"]["executionResult"]["externalExecutionSummary"] == "greeted"
    # The job is over: a late result is refused, as AWS does.
    with pytest.raises(ClientError) as late:
        codepipeline(stack).put_job_success_result(jobId=job_id)
    assert late.value.response["Error"]["Code"] == "InvalidJobStateException"


def test_a_continuation_token_invokes_the_function_again_with_a_new_job(
    stack: Stack, endpoint: LambdaEndpoint
) -> None:
    def two_steps(event: dict[str, Any]) -> None:
        job_id, data = job_of(event)
        cp = codepipeline(stack)
        if "continuationToken" not in data:
            cp.put_job_success_result(
                jobId=job_id,
                continuationToken="step-2",
                executionDetails={"summary": "half way", "percentComplete": 50},
            )
        else:
            cp.put_job_success_result(
                jobId=job_id, outputVariables={"steps": data["continuationToken"]}
            )

    function = endpoint.register("steps", two_steps)
    name, execution_id, _ = run(
        stack,
        stage("Invoke", lambda_action(function, namespace="StepsNs")),
        stage("Check", commands("Check", ['test "#{StepsNs.steps}" = "step-2"'])),
    )
    stack.wait(name, execution_id)
    first, second = endpoint.calls(function)
    assert "continuationToken" not in job_of(first.event)[1]
    assert job_of(second.event)[1]["continuationToken"] == "step-2"
    assert job_of(first.event)[0] != job_of(second.event)[0]  # a new job
    # The second job has credentials of its own.
    assert (
        job_of(first.event)[1]["artifactCredentials"]["accessKeyId"]
        != job_of(second.event)[1]["artifactCredentials"]["accessKeyId"]
    )
    row = action_row(stack, name, execution_id, "Invoke")
    assert row["output"]["outputVariables"] == {"steps": "step-2"}
    assert [r["actionName"] for r in stack.action_executions(name, execution_id)].count(
        "Invoke"
    ) == 1  # one attempt throughout


def test_a_continuation_reported_before_invoke_returns_still_invokes_again(
    stack: Stack, endpoint: LambdaEndpoint
) -> None:
    """A fast function may call back before the worker that invoked it has recorded that the
    attempt now waits on its job; the continuation must not be lost."""
    calls: list[str] = []

    def eager(event: dict[str, Any]) -> None:
        job_id, data = job_of(event)
        calls.append(job_id)
        token = None if "continuationToken" in data else "again"
        if token:
            codepipeline(stack).put_job_success_result(jobId=job_id, continuationToken=token)
        else:
            codepipeline(stack).put_job_success_result(jobId=job_id)

    function = endpoint.register("eager", eager, before_answer=True)
    name, execution_id, _ = run(stack, stage("Invoke", lambda_action(function)))
    stack.wait(name, execution_id, timeout=45)
    assert len(calls) == 2


def test_a_function_reports_failure(stack: Stack, endpoint: LambdaEndpoint) -> None:
    def refuse(event: dict[str, Any]) -> None:
        job_id, _ = job_of(event)
        codepipeline(stack).put_job_failure_result(
            jobId=job_id,
            failureDetails={
                "type": "JobFailed",
                "message": "3 smoke tests failed",
                "externalExecutionId": "smoke-3",
            },
        )

    function = endpoint.register("refuse", refuse)
    # A full ARN: the function's region signs the call.
    arn = f"arn:aws:lambda:eu-west-1:{ACCOUNT_ID}:function:{function}"
    name, execution_id, _ = run(stack, stage("Invoke", lambda_action(arn)))
    execution = stack.wait(name, execution_id, "Failed")
    assert execution["status"] == "Failed"
    (call,) = endpoint.calls(function)
    assert call.scope.endswith("/eu-west-1/lambda/aws4_request")
    row = action_row(stack, name, execution_id, "Invoke")
    result = row["output"]["executionResult"]
    assert row["status"] == "Failed"
    assert result["errorDetails"] == {"code": "JobFailed", "message": "3 smoke tests failed"}
    assert result["externalExecutionId"] == "smoke-3"


def test_an_unknown_function_fails_the_action_with_a_clear_message(
    stack: Stack, endpoint: LambdaEndpoint
) -> None:
    missing = unique_name("missing")
    name, execution_id, _ = run(stack, stage("Invoke", lambda_action(missing)))
    stack.wait(name, execution_id, "Failed")
    assert len(endpoint.calls(missing)) == 1  # asked once, not retried
    error = action_row(stack, name, execution_id, "Invoke")["output"]["executionResult"][
        "errorDetails"
    ]
    assert error["code"] == "ConfigurationError"
    assert error["message"].startswith(f"Lambda could not invoke function {missing}: ")
    assert "ResourceNotFoundException" in error["message"]
    assert "Function not found" in error["message"]


def test_a_function_reads_its_inputs_and_writes_its_outputs_with_the_job_credentials(
    stack: Stack, endpoint: LambdaEndpoint
) -> None:
    """As on AWS, the function moves artifacts itself — here through Stageline's artifact
    endpoint, with the credentials in the event."""

    def package(event: dict[str, Any]) -> None:
        job_id, data = job_of(event)
        s3 = artifact_s3(stack, event)
        source = data["inputArtifacts"][0]["location"]["s3Location"]
        body = s3.get_object(Bucket=source["bucketName"], Key=source["objectKey"])["Body"].read()
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            text = archive.read("app.txt").decode()
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("packaged.txt", f"packaged {text}")
        out = data["outputArtifacts"][0]["location"]["s3Location"]
        s3.put_object(Bucket=out["bucketName"], Key=out["objectKey"], Body=buffer.getvalue())
        codepipeline(stack).put_job_success_result(jobId=job_id)

    function = endpoint.register("package", package)
    name, execution_id, _ = run(
        stack,
        stage("Invoke", lambda_action(function, outputs=("Packaged",))),
        stage(
            "Check",
            commands("Check", ['test "$(cat packaged.txt)" = "packaged v1"'], inputs=("Packaged",)),
        ),
    )
    stack.wait(name, execution_id)


def test_a_lambda_service_error_fails_the_action_as_a_job_failure(
    stack: Stack, endpoint: LambdaEndpoint
) -> None:
    function = endpoint.register("broken", lambda event: None, error=(500, "ServiceException"))
    name, execution_id, _ = run(stack, stage("Invoke", lambda_action(function)))
    stack.wait(name, execution_id, "Failed")
    assert len(endpoint.calls(function)) == 3  # boto3's standard retries, then the failure
    error = action_row(stack, name, execution_id, "Invoke")["output"]["executionResult"][
        "errorDetails"
    ]
    assert error["code"] == "JobFailed"
    assert error["message"] == (
        f"Lambda could not invoke function {function}: ServiceException: ServiceException (test)"
    )
