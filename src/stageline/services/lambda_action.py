"""Invoke / AWS / Lambda / 1: hand the attempt's job to a Lambda function, which reports back.

As on AWS, the function is invoked asynchronously (InvocationType "Event"; "Using AWS Lambda
with AWS CodePipeline": "CodePipeline invokes your function asynchronously") with the
`CodePipeline.job` event ("AWS Lambda invoke action reference", Example JSON event) and must
end the job with PutJobSuccessResult or PutJobFailureResult against Stageline. Once Invoke has
accepted the event the attempt waits on its job (`AwaitingJob`): no worker holds it. A
continuation token in PutJobSuccessResult makes the job protocol open a new job and dispatch
the attempt again, so this provider runs again and invokes the function with the new job.

The client comes from boto3's standard configuration — AWS_ENDPOINT_URL_LAMBDA (or
AWS_ENDPOINT_URL) for a Lambda-compatible endpoint, the credential variables, shared config
files, instance roles. The region is the one of a full function ARN, else the action's
`region`, else boto3's (AWS_DEFAULT_REGION, config files), else AWS_REGION, else Stageline's.

The event carries the job's artifact credentials: it is never logged, and neither messages
nor log lines ever contain the credentials.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    HTTPClientError,
    NoCredentialsError,
    ParamValidationError,
    PartialCredentialsError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError
from sqlalchemy import select

from stageline.actions.base import ActionContext, AwaitingJob, Failed, Outcome
from stageline.domain.status import ActionStatus
from stageline.persistence.db import Database
from stageline.persistence.models import ActionExecution, Job
from stageline.services.job_credentials import mint
from stageline.services.jobs import CREDENTIAL_LIFETIME, wire_data
from stageline.services.ports import Clock, utcnow

# What AWS puts in the event's `data`: JobData without actionTypeId and pipelineContext.
EVENT_DATA_KEYS = (
    "actionConfiguration",
    "inputArtifacts",
    "outputArtifacts",
    "artifactCredentials",
    "continuationToken",
    "encryptionKey",
)
# The function would get credentials about to expire: give the job fresh ones first.
MIN_CREDENTIAL_LIFETIME = timedelta(minutes=15)
# Errors that are the pipeline's or the deployment's to fix, not a passing failure.
CONFIGURATION_ERRORS = frozenset(
    {
        "ResourceNotFoundException",
        "AccessDeniedException",
        "AccessDenied",
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "InvalidParameterValueException",
        "ValidationException",
        "NotFound",
    }
)
_CLIENT_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": 3}, connect_timeout=5, read_timeout=15
)


class LambdaProvider:
    def __init__(
        self, db: Database, account_id: str, region: str = "us-east-1", clock: Clock = utcnow
    ) -> None:
        self.db, self.account_id, self.region, self.clock = db, account_id, region, clock
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def run(self, ctx: ActionContext) -> Outcome:
        function = str(ctx.configuration.get("FunctionName") or "").strip()
        if not function:
            return Failed(
                "FunctionName is required to invoke a Lambda function.", "ConfigurationError"
            )
        found = self._open_job(ctx.action_execution_id)
        if found is None:
            return Failed(
                f"Stageline found no open job for this attempt of {ctx.action_name}; "
                "the Lambda function was not invoked."
            )
        event, action_region, secrets = found
        job_id = event["CodePipeline.job"]["id"]
        try:
            client = self._client(_region_of(function) or action_region)
        except BotoCoreError as exc:
            return self._failed(ctx, function, job_id, "ConfigurationError", str(exc), secrets)
        try:
            response = client.invoke(
                FunctionName=function,
                InvocationType="Event",
                Payload=json.dumps(event).encode(),
            )
        except ClientError as exc:
            error = exc.response.get("Error") or {}
            code = str(error.get("Code") or "Unknown")
            kind = "ConfigurationError" if code in CONFIGURATION_ERRORS else "JobFailed"
            why = f"{code}: {error.get('Message') or exc}"
            return self._failed(ctx, function, job_id, kind, why, secrets)
        except (NoCredentialsError, PartialCredentialsError) as exc:
            why = f"{exc} (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a profile or role)"
            return self._failed(ctx, function, job_id, "ConfigurationError", why, secrets)
        except ParamValidationError as exc:
            return self._failed(ctx, function, job_id, "ConfigurationError", str(exc), secrets)
        except (BotoConnectionError, HTTPClientError) as exc:
            why = f"the Lambda endpoint {_endpoint(client)} did not answer ({exc})"
            return self._failed(ctx, function, job_id, "JobFailed", why, secrets)
        except BotoCoreError as exc:
            return self._failed(ctx, function, job_id, "JobFailed", str(exc), secrets)
        if response.get("FunctionError"):
            # Only an endpoint that ran the function synchronously despite "Event" says so.
            payload = _read(response.get("Payload"))
            why = f"the function failed ({response['FunctionError']}): {payload[:1000]}"
            return self._failed(ctx, function, job_id, "JobFailed", why, secrets)
        continued = (
            " (continuation)" if "continuationToken" in event["CodePipeline.job"]["data"] else ""
        )
        ctx.log.write(
            f"[Stageline] Invoked Lambda function {function} asynchronously with job "
            f"{job_id}{continued}; waiting for PutJobSuccessResult or PutJobFailureResult.\n"
        )
        return AwaitingJob(summary=f"Invoked Lambda function {function}")

    def _open_job(
        self, action_execution_id: str
    ) -> tuple[dict[str, Any], str | None, list[str]] | None:
        """The event for the attempt's newest open Lambda job, the action's region, and the
        secrets no message may contain. Credentials close to expiry are renewed first."""
        with self.db.unit_of_work() as uow:
            session = uow.session
            action = session.scalar(
                select(ActionExecution).where(
                    ActionExecution.action_execution_id == action_execution_id
                )
            )
            if action is None:
                return None
            job = session.scalar(
                select(Job)
                .where(Job.action_pk == action.pk, Job.kind == "lambda", Job.status == "InProgress")
                .order_by(Job.pk.desc())
                .limit(1)
            )
            if job is None:
                return None
            now = self.clock()
            expires = job.credentials_expire_at
            if expires is None or _utc(expires) - now < MIN_CREDENTIAL_LIFETIME:
                mint(job, now, CREDENTIAL_LIFETIME)
            revisions = _input_revisions(session, action)
            event = lambda_event(job, self.account_id, revisions)
            secrets = [s for s in (job.secret_access_key, job.session_token) if s]
            return event, action.input.get("region"), secrets

    def _client(self, region: str | None) -> Any:
        with self._lock:
            session = boto3.session.Session()
            name = region or session.region_name or os.environ.get("AWS_REGION") or self.region
            client = self._clients.get(name)
            if client is None:
                client = session.client("lambda", region_name=name, config=_CLIENT_CONFIG)
                self._clients[name] = client
            return client

    def _failed(
        self,
        ctx: ActionContext,
        function: str,
        job_id: str,
        code: str,
        why: str,
        secrets: list[str],
    ) -> Failed:
        message = _scrub(f"Lambda could not invoke function {function}: {why}", secrets)[:4000]
        ctx.log.write(f"[Stageline] {message} (job {job_id})\n")
        return Failed(message, code=code)


def lambda_event(
    job: Job, account_id: str, revisions: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The `CodePipeline.job` event of a job: its id, the account, and its data as AWS sends it
    — the action configuration, input artifacts (with the revision that produced them, when
    known) and output artifacts (revision null), the artifact credentials (with their expiry
    in epoch milliseconds, as Lambda's CodePipeline example shows), and the continuation token
    and encryption key when there are any."""
    wired = wire_data(job)
    data: dict[str, Any] = {key: wired[key] for key in EVENT_DATA_KEYS if key in wired}
    data.setdefault("inputArtifacts", [])
    data.setdefault("outputArtifacts", [])
    data["inputArtifacts"] = [
        {**artifact, "revision": (revisions or {}).get(artifact["name"])}
        for artifact in data["inputArtifacts"]
    ]
    data["outputArtifacts"] = [
        {**artifact, "revision": None} for artifact in data["outputArtifacts"]
    ]
    credentials = data.get("artifactCredentials")
    if credentials is not None and job.credentials_expire_at is not None:
        expiry = int(_utc(job.credentials_expire_at).timestamp() * 1000)
        data["artifactCredentials"] = {**credentials, "expirationTime": expiry}
    return {"CodePipeline.job": {"id": job.job_id, "accountId": account_id, "data": data}}


def _input_revisions(session: Any, action: ActionExecution) -> dict[str, str]:
    """Artifact name -> the revision of the succeeded action of this execution that made it
    (source actions record one), for the event's inputArtifacts[].revision."""
    wanted = {i["name"] for i in action.input.get("inputArtifacts") or []}
    if not wanted:
        return {}
    rows = session.execute(
        select(ActionExecution.output_artifacts, ActionExecution.revision).where(
            ActionExecution.execution_pk == action.execution_pk,
            ActionExecution.status == ActionStatus.SUCCEEDED,
            ActionExecution.revision.is_not(None),
        )
    )
    found: dict[str, str] = {}
    for outputs, revision in rows:
        for artifact in outputs or []:
            if artifact["name"] in wanted and (revision or {}).get("revisionId"):
                found[artifact["name"]] = str(revision["revisionId"])
    return found


def _region_of(function: str) -> str | None:
    """The region of a full function ARN (arn:partition:lambda:region:account:function:name)."""
    parts = function.split(":")
    if len(parts) >= 7 and parts[0] == "arn" and parts[2] == "lambda" and parts[3]:
        return parts[3]
    return None


def _endpoint(client: Any) -> str:
    """The endpoint URL without any user information."""
    parts = urlsplit(str(client.meta.endpoint_url))
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _read(payload: Any) -> str:
    if payload is None:
        return ""
    data = payload.read() if hasattr(payload, "read") else payload
    return data.decode(errors="replace") if isinstance(data, bytes) else str(data)


def _scrub(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "****")
    return text


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
