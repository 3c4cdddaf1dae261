"""`stageline job-worker` in real pipelines, on both shapes of Stageline: a custom action type
created with boto3, the worker as its own process (pointed at Stageline for CodePipeline and
for S3, as a user would point any AWS job worker), its output artifact and output variable
consumed by a Commands action; a failing command, continuation tokens, stopping, and refused
credentials."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.executions.declarations import commands, pipeline, s3_source, stage, unique
from tests.executions.stack import Stack
from tests.support.servers import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY

SECRET = "tok-9f8e7d6c5b"
FAST = ["--poll-interval", "0.2", "--max-poll-interval", "1"]


def create_type(stack: Stack, *, outputs: int = 1) -> dict[str, str]:
    """A Build type with a queryable ProjectName and a secret ApiToken; its id."""
    provider = unique("Worker")
    stack.client().create_custom_action_type(
        category="Build",
        provider=provider,
        version="1",
        settings={"executionUrlTemplate": "https://ci.example.com/run/{ExternalExecutionId}"},
        configurationProperties=[
            {
                "name": "ProjectName",
                "required": True,
                "key": True,
                "secret": False,
                "queryable": True,
                "type": "String",
            },
            {"name": "ApiToken", "required": False, "key": False, "secret": True},
        ],
        inputArtifactDetails={"minimumCount": 1, "maximumCount": 1},
        outputArtifactDetails={"minimumCount": outputs, "maximumCount": outputs},
    )
    return {"category": "Build", "owner": "Custom", "provider": provider, "version": "1"}


def custom_action(type_id: dict[str, str], project: str, *, output: bool = True) -> dict[str, Any]:
    action: dict[str, Any] = {
        "name": "Custom",
        "actionTypeId": type_id,
        "runOrder": 1,
        "configuration": {"ProjectName": project, "ApiToken": SECRET},
        "inputArtifacts": [{"name": "SourceOutput"}],
        "namespace": "CustomVars",
    }
    if output:
        action["outputArtifacts"] = [{"name": "CustomOutput"}]
    return action


@dataclass
class WorkerProcess:
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait(self, timeout: float = 60) -> int:
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise AssertionError(f"the job worker did not exit:\n{self.output()}") from None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


def start_worker(
    stack: Stack,
    type_id: dict[str, str],
    project: str,
    script: str,
    *extra: str,
    secret: str = SECRET_ACCESS_KEY,
) -> WorkerProcess:
    """`python -m stageline.cli job-worker ... --query ProjectName=PROJECT -- sh -c SCRIPT` with
    the Stageline root key and AWS_ENDPOINT_URL_S3 at the Stageline server, as
    docs/custom-actions.md tells users. (AWS's PollForJobs wants the queryable property of a
    type that has one in queryParam.)"""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STAGELINE_", "AWS_"))}
    env.update(
        AWS_ACCESS_KEY_ID=ACCESS_KEY_ID,
        AWS_SECRET_ACCESS_KEY=secret,
        AWS_DEFAULT_REGION=REGION,
        AWS_ENDPOINT_URL_S3=stack.server.url,
        PYTHONUNBUFFERED="1",
    )
    log = stack.root / f"job-worker-{type_id['provider']}-{time.monotonic_ns()}.log"
    argv = [
        sys.executable,
        "-m",
        "stageline.cli",
        "job-worker",
        "--category",
        type_id["category"],
        "--provider",
        type_id["provider"],
        "--version",
        type_id["version"],
        "--endpoint-url",
        stack.server.url,
        "--query",
        f"ProjectName={project}",
        *FAST,
        *extra,
        "--",
        "sh",
        "-c",
        script,
    ]
    with open(log, "wb") as out:
        process = subprocess.Popen(
            argv, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    return WorkerProcess(process, log)


def rows_by_action(stack: Stack, name: str, execution_id: str) -> dict[str, dict[str, Any]]:
    return {row["actionName"]: row for row in stack.action_executions(name, execution_id)}


BUILD = """
set -e
test "$STAGELINE_CONFIG_PROJECTNAME" = "$EXPECTED_PROJECT"
echo "building $STAGELINE_PIPELINE_NAME/$STAGELINE_STAGE_NAME/$STAGELINE_ACTION_NAME"
echo "token is $STAGELINE_CONFIG_APITOKEN"
test -z "$AWS_SECRET_ACCESS_KEY"
mkdir -p "$STAGELINE_OUTPUT_DIR/CustomOutput/dist"
printf 'built: %s' "$(cat app.txt)" > "$STAGELINE_OUTPUT_DIR/CustomOutput/dist/result.txt"
echo "BUILD_LABEL=label-$STAGELINE_PIPELINE_NAME" >> "$STAGELINE_OUTPUT_VARIABLES"
"""


def test_the_job_worker_runs_a_custom_action_in_a_pipeline(stack: Stack) -> None:
    name, bucket, project = unique("jw-ok"), unique("src"), unique("proj")
    type_id = create_type(stack)
    stack.put_source(bucket, "app.zip", {"app.txt": "hello\n"})
    consumer = commands(
        "Consume",
        [
            'test "$(cat dist/result.txt)" = "built: hello"',
            "export SEEN=#{CustomVars.BUILD_LABEL}",
        ],
        inputs=("CustomOutput",),
        variables=["SEEN"],
    )
    script = f"EXPECTED_PROJECT={project}; export EXPECTED_PROJECT\n{BUILD}"
    worker = start_worker(stack, type_id, project, script, "--once")
    try:
        execution_id = stack.create_pipeline(
            pipeline(
                name,
                stage("Source", s3_source(bucket)),
                stage("Build", custom_action(type_id, project)),
                stage("Check", consumer),
            )
        )
        stack.wait(name, execution_id, "Succeeded", timeout=120)
        assert worker.wait() == 0, worker.output()
    finally:
        worker.stop()
    output = worker.output()
    assert f"building {name}/Build/Custom" in output
    assert "token is ***" in output
    assert SECRET not in output and SECRET_ACCESS_KEY not in output
    rows = rows_by_action(stack, name, execution_id)
    custom = rows["Custom"]["output"]
    assert custom["outputVariables"] == {"BUILD_LABEL": f"label-{name}"}
    result = custom["executionResult"]
    assert result["externalExecutionSummary"] == "sh succeeded"
    assert result["externalExecutionId"] in output  # the job id the worker logged
    assert rows["Consume"]["output"]["outputVariables"] == {"SEEN": f"label-{name}"}


def test_a_failing_command_fails_the_action_with_the_workers_message(stack: Stack) -> None:
    name, bucket, project = unique("jw-fail"), unique("src"), unique("proj")
    type_id = create_type(stack)
    stack.put_source(bucket, "app.zip", {"app.txt": "hello\n"})
    script = 'echo "compiling $(cat app.txt)"; echo "boom: the build broke" >&2; exit 3'
    worker = start_worker(stack, type_id, project, script, "--once")
    try:
        execution_id = stack.create_pipeline(
            pipeline(
                name,
                stage("Source", s3_source(bucket)),
                stage("Build", custom_action(type_id, project)),
            )
        )
        stack.wait(name, execution_id, "Failed", timeout=120)
        assert worker.wait() == 0, worker.output()
    finally:
        worker.stop()
    row = rows_by_action(stack, name, execution_id)["Custom"]
    assert row["status"] == "Failed"
    error = row["output"]["executionResult"]["errorDetails"]
    assert error["code"] == "JobFailed"
    message = error["message"]
    assert message.startswith("The command exited with status 3. Last lines of output:")
    assert "compiling hello" in message and "boom: the build broke" in message


CONTINUING = """
if [ -z "$STAGELINE_CONTINUATION_TOKEN" ]; then
  echo "started, asking to continue"
  echo step-1 > "$STAGELINE_CONTINUATION_TOKEN_FILE"
else
  echo "continuing after $STAGELINE_CONTINUATION_TOKEN"
  echo "STEP=$STAGELINE_CONTINUATION_TOKEN" > "$STAGELINE_OUTPUT_VARIABLES"
fi
"""


def test_a_continuation_token_brings_a_second_job_and_sigterm_stops_an_idle_worker(
    stack: Stack,
) -> None:
    name, bucket, project = unique("jw-cont"), unique("src"), unique("proj")
    type_id = create_type(stack, outputs=0)
    stack.put_source(bucket, "app.zip", {"app.txt": "hello\n"})
    worker = start_worker(stack, type_id, project, CONTINUING)
    try:
        execution_id = stack.create_pipeline(
            pipeline(
                name,
                stage("Source", s3_source(bucket)),
                stage("Build", custom_action(type_id, project, output=False)),
            )
        )
        stack.wait(name, execution_id, "Succeeded", timeout=120)
        stack.wait_for("the worker to go idle", lambda: "succeeded" in worker.output())
        worker.process.send_signal(signal.SIGTERM)
        assert worker.wait(30) == 0, worker.output()
    finally:
        worker.stop()
    output = worker.output()
    assert "started, asking to continue" in output
    assert "continuing after step-1" in output
    assert "(continues an earlier job)" in output
    assert "stopped (SIGTERM)" in output
    custom = rows_by_action(stack, name, execution_id)["Custom"]["output"]
    assert custom["outputVariables"] == {"STEP": "step-1"}


def test_stopping_the_worker_during_a_job_fails_the_action_clearly(stack: Stack) -> None:
    name, bucket, project = unique("jw-stop"), unique("src"), unique("proj")
    type_id = create_type(stack, outputs=0)
    stack.put_source(bucket, "app.zip", {"app.txt": "hello\n"})
    worker = start_worker(stack, type_id, project, "echo working; sleep 120", "--stop-grace", "2")
    try:
        execution_id = stack.create_pipeline(
            pipeline(
                name,
                stage("Source", s3_source(bucket)),
                stage("Build", custom_action(type_id, project, output=False)),
            )
        )
        stack.wait_for("the command to run", lambda: "] working" in worker.output())
        worker.process.send_signal(signal.SIGTERM)
        assert worker.wait(30) == 128 + signal.SIGTERM, worker.output()
        stack.wait(name, execution_id, "Failed", timeout=60)
    finally:
        worker.stop()
    error = rows_by_action(stack, name, execution_id)["Custom"]["output"]["executionResult"]
    message = error["errorDetails"]["message"]
    assert message.startswith("The job worker was stopped (SIGTERM) while the command ran")
    assert "working" in message


def test_refused_credentials_stop_the_worker_with_a_clear_error(stack: Stack) -> None:
    type_id = create_type(stack)
    wrong = "not-the-secret-key-0123456789"
    worker = start_worker(stack, type_id, unique("proj"), "true", secret=wrong)
    try:
        assert worker.wait(60) == 1
    finally:
        worker.stop()
    output = worker.output()
    assert f"CodePipeline at {stack.server.url} refused the credentials" in output
    assert wrong not in output
