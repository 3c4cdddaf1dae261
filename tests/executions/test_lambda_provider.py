"""The Lambda invoke provider without a running Stageline: the event it sends, and Invoke
failing (an endpoint nobody answers, no credentials) on a real SQLite database."""

from __future__ import annotations

import socket
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from tests.support.servers import REGION

from stageline.actions.base import ActionContext, Failed
from stageline.artifacts.folder import FolderStore
from stageline.domain.action_types import ActionTypeId
from stageline.persistence.db import Database
from stageline.persistence.migrate import upgrade
from stageline.persistence.models import ActionExecution, Job, Pipeline, PipelineExecution
from stageline.services.jobs import JobContext, new_job
from stageline.services.lambda_action import LambdaProvider, lambda_event

ACCOUNT_ID = "000000000000"
EVENT_DATA = {"actionConfiguration", "inputArtifacts", "outputArtifacts", "artifactCredentials"}


def test_the_event_is_job_data_as_aws_sends_it_to_lambda() -> None:
    """ "AWS Lambda invoke action reference" (Example JSON event) and Lambda's "Using AWS Lambda
    with AWS CodePipeline": id, accountId, data without actionTypeId and pipelineContext."""
    location = {"type": "S3", "s3Location": {"bucketName": "b", "objectKey": "p/Src/abc"}}
    expires = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    job = Job(
        job_id="11111111-abcd-1111-abcd-111111abcdef",
        data={
            "actionTypeId": {"category": "Invoke", "owner": "AWS", "provider": "Lambda"},
            "actionConfiguration": {"configuration": {"FunctionName": "f", "UserParameters": "u"}},
            "pipelineContext": {"pipelineName": "p"},
            "inputArtifacts": [{"name": "Src", "location": location}],
            "outputArtifacts": [{"name": "Out", "location": location}],
            "continuationToken": "step-2",
        },
        access_key_id="ASIAEXAMPLE",
        secret_access_key="secret",
        session_token="token",
        credentials_expire_at=expires,
    )
    event = lambda_event(job, "123456789012", {"Src": "rev-1"})
    assert list(event) == ["CodePipeline.job"]
    body = event["CodePipeline.job"]
    assert body["id"] == job.job_id and body["accountId"] == "123456789012"
    assert set(body["data"]) == {*EVENT_DATA, "continuationToken"}
    assert body["data"]["actionConfiguration"] == {
        "configuration": {"FunctionName": "f", "UserParameters": "u"}
    }
    assert body["data"]["inputArtifacts"] == [
        {"name": "Src", "location": location, "revision": "rev-1"}
    ]
    assert body["data"]["outputArtifacts"] == [
        {"name": "Out", "location": location, "revision": None}
    ]
    assert body["data"]["artifactCredentials"] == {
        "accessKeyId": "ASIAEXAMPLE",
        "secretAccessKey": "secret",
        "sessionToken": "token",
        "expirationTime": int(expires.timestamp() * 1000),
    }
    assert body["data"]["continuationToken"] == "step-2"
    assert (
        "continuationToken"
        not in lambda_event(
            Job(job_id="j", data={"actionConfiguration": {"configuration": {}}}), "123456789012"
        )["CodePipeline.job"]["data"]
    )


@dataclass
class Lines:
    text: list[str] = field(default_factory=list)

    def write(self, text: str) -> None:
        self.text.append(text)


@pytest.mark.parametrize("trouble", ["unreachable", "no credentials"])
def test_invoke_trouble_fails_the_attempt_without_leaking_credentials(
    trouble: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'stageline.db'}"
    upgrade(url)
    db = Database(url)
    action_execution_id = _lambda_attempt(db)
    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    for variable in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(variable, raising=False)
    if trouble == "unreachable":
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEEXAMPLE00")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "example")
    else:
        monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
        monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)
    log = Lines()
    outcome = LambdaProvider(db, ACCOUNT_ID, REGION).run(
        _context(action_execution_id, log, tmp_path)
    )
    assert isinstance(outcome, Failed)
    assert outcome.message.startswith("Lambda could not invoke function probe: ")
    if trouble == "unreachable":
        assert outcome.code == "JobFailed"
        assert f"the Lambda endpoint http://127.0.0.1:{port} did not answer" in outcome.message
    else:
        assert outcome.code == "ConfigurationError"
        assert "Unable to locate credentials" in outcome.message
    with db.unit_of_work(write=False) as uow:
        job = uow.session.scalars(select(Job)).one()
        secrets = [job.secret_access_key, job.session_token]
    everything = outcome.message + "".join(log.text)
    assert all(secret and secret not in everything for secret in secrets)
    assert "job " in log.text[-1]
    db.dispose()


def _lambda_attempt(db: Database) -> str:
    """The rows scheduling makes for a Lambda action's attempt: pipeline, execution, the
    attempt, and its job (through the job protocol's own new_job)."""
    now = datetime.now(UTC)
    type_id = {"category": "Invoke", "owner": "AWS", "provider": "Lambda", "version": "1"}
    with db.unit_of_work() as uow:
        session = uow.session
        row = Pipeline(
            name="probe",
            version=1,
            pipeline_type="V2",
            execution_mode="SUPERSEDED",
            created_at=now,
            updated_at=now,
        )
        session.add(row)
        session.flush()
        execution = PipelineExecution(
            execution_id=str(uuid.uuid4()),
            pipeline_id=row.id,
            pipeline_version=1,
            status="InProgress",
            execution_mode="SUPERSEDED",
            trigger_type="StartPipelineExecution",
            created_at=now,
            updated_at=now,
        )
        session.add(execution)
        session.flush()
        action = ActionExecution(
            action_execution_id=str(uuid.uuid4()),
            execution_pk=execution.pk,
            pipeline_id=row.id,
            stage_name="Invoke",
            action_name="Invoke",
            stage_attempt=1,
            run_order=1,
            status="InProgress",
            started_at=now,
            updated_at=now,
            timeout_at=now + timedelta(hours=1),
            input={
                "actionTypeId": type_id,
                "configuration": {"FunctionName": "probe"},
                "resolvedConfiguration": {"FunctionName": "probe"},
                "inputArtifacts": [],
            },
            output_artifacts=[],
            output_variables={},
            lease_token=1,
        )
        session.add(action)
        session.flush()
        context = JobContext("probe", "arn:aws:codepipeline:us-east-1:000000000000:probe", "x")
        new_job(session, action, "lambda", context, None)
        return action.action_execution_id


def _context(action_execution_id: str, log: Lines, root: Path) -> ActionContext:
    return ActionContext(
        pipeline_name="probe",
        pipeline_execution_id="x",
        stage_name="Invoke",
        action_name="Invoke",
        action_execution_id=action_execution_id,
        type_id=ActionTypeId("Invoke", "AWS", "Lambda", "1"),
        configuration={"FunctionName": "probe"},
        inputs=[],
        outputs=[],
        store=FolderStore(root / "artifacts"),
        workspace=root,
        log=log,
        timeout_seconds=3600,
        cancelled=lambda: False,
    )
