"""The CodePipeline job protocol: jobs of custom, third-party and Lambda actions.

An attempt of such an action gets a job when it is scheduled and then waits on it — no worker
of ours holds it (`awaits_job`). Job workers claim jobs with PollForJobs: a conditional UPDATE
from Queued to Dispatched with a fresh nonce, so of many concurrent polls exactly one gets each
job. AcknowledgeJob (with that nonce) moves it to InProgress; PutJobSuccessResult or
PutJobFailureResult ends it and, through the orchestrator, the action — unless a
continuationToken asks for another job for the same attempt. The third-party variants are the
same jobs seen through a client id and token; Lambda jobs are handed to the function at once.
"""

from __future__ import annotations

import secrets
import string
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update

from stageline.domain.action_types import ActionTypeId
from stageline.domain.errors import (
    ActionTypeNotFoundException,
    InvalidClientTokenException,
    InvalidJobStateException,
    InvalidNonceException,
    JobNotFoundException,
    OutputVariablesSizeExceededException,
    ValidationException,
)
from stageline.domain.status import ActionStatus
from stageline.persistence.models import ActionExecution, Job
from stageline.services.custom_action_types import CustomType, custom_type
from stageline.services.job_credentials import mint
from stageline.services.ports import utcnow

if TYPE_CHECKING:
    from stageline.services.orchestrator import Orchestrator

OPEN = ("Queued", "Dispatched", "InProgress")
CREDENTIAL_LIFETIME = timedelta(hours=1)
# "Quotas in AWS CodePipeline": output variables of one action, all names and values.
MAX_OUTPUT_VARIABLES_CHARS = 122880
LAMBDA = ("Invoke", "AWS", "Lambda")
_NONCE_ALPHABET = string.ascii_letters + string.digits


def job_kind(type_id: Mapping[str, str]) -> str | None:
    """Which actions run through jobs: custom (job workers), ThirdParty, and Lambda invoke."""
    if type_id["owner"] == "Custom":
        return "job"
    if type_id["owner"] == "ThirdParty":
        return "third_party"
    if (type_id["category"], type_id["owner"], type_id["provider"]) == LAMBDA:
        return "lambda"
    return None


@dataclass(frozen=True)
class JobContext:
    """What a job's data says about where it runs (JobData.pipelineContext)."""

    pipeline_name: str
    pipeline_arn: str
    execution_id: str


def new_job(
    session: Any, action: ActionExecution, kind: str, context: JobContext, continuation: str | None
) -> Job:
    """A job for this attempt: Queued for workers, or InProgress for a Lambda function."""
    data = _job_data(action, context, continuation)
    now = utcnow()
    job = Job(
        job_id=str(uuid.uuid4()),
        action_pk=action.pk,
        kind=kind,
        status="InProgress" if kind == "lambda" else "Queued",
        query=_query_values(session, action),
        data=data,
        created_at=now,
        **data["actionTypeId"],
    )
    if kind == "lambda":
        job.dispatched_at = job.acknowledged_at = now
        mint(job, now, CREDENTIAL_LIFETIME)
    session.add(job)
    session.flush()
    return job


def _job_data(
    action: ActionExecution, context: JobContext, continuation: str | None
) -> dict[str, Any]:
    """JobData as AWS shapes it, credentials aside (they are minted when a worker gets it)."""

    def location(bucket: str, key: str) -> dict[str, Any]:
        return {"type": "S3", "s3Location": {"bucketName": bucket, "objectKey": key}}

    data: dict[str, Any] = {
        "actionTypeId": dict(action.input["actionTypeId"]),
        "actionConfiguration": {
            "configuration": dict(action.input.get("resolvedConfiguration") or {})
        },
        "pipelineContext": {
            "pipelineName": context.pipeline_name,
            "stage": {"name": action.stage_name},
            "action": {"name": action.action_name, "actionExecutionId": action.action_execution_id},
            "pipelineArn": context.pipeline_arn,
            "pipelineExecutionId": context.execution_id,
        },
        "inputArtifacts": [
            {
                "name": i["name"],
                "location": location(i["s3location"]["bucket"], i["s3location"]["key"]),
            }
            for i in action.input.get("inputArtifacts") or []
            if i.get("s3location")
        ],
        "outputArtifacts": [
            {
                "name": o["name"],
                "location": location(o["s3location"]["bucket"], o["s3location"]["key"]),
            }
            for o in action.output_artifacts
        ],
    }
    if continuation is not None:
        data["continuationToken"] = continuation
    return data


def _type(session: Any, type_id: Mapping[str, str]) -> CustomType | None:
    return custom_type(session, ActionTypeId(**type_id))


def job_timeout_seconds(session: Any, type_id: Mapping[str, str]) -> int | None:
    """The executor's jobTimeout of a registered type, when it sets one."""
    found = _type(session, type_id)
    return found.job_timeout if found else None


def _query_values(session: Any, action: ActionExecution) -> dict[str, str]:
    config = action.input.get("resolvedConfiguration") or {}
    found = _type(session, action.input["actionTypeId"])
    name = found.queryable_property if found else None
    return {name: str(config[name])} if name and name in config else {}


class JobService:
    """The job protocol's operations, one unit of work each."""

    def __init__(self, orchestrator: Orchestrator, account_id: str) -> None:
        self.o = orchestrator
        self.session = orchestrator.session
        self.account_id = account_id

    # -- handing jobs out --------------------------------------------------------------------
    def poll(
        self, kind: str, type_id: Mapping[str, str], max_batch: int, query: Mapping[str, str]
    ) -> list[Job]:
        self._check_type(kind, type_id, query)
        candidates = select(Job.pk).where(
            Job.kind == kind,
            Job.status == "Queued",
            Job.category == type_id["category"],
            Job.owner == type_id["owner"],
            Job.provider == type_id["provider"],
            Job.version == type_id["version"],
        )
        claimed: list[Job] = []
        for pk in self.session.scalars(candidates.order_by(Job.pk).limit(max_batch * 4 + 10)):
            if len(claimed) == max_batch:
                break
            job = self._claim(pk, query)
            if job is not None:
                claimed.append(job)
        return claimed

    def _check_type(self, kind: str, type_id: Mapping[str, str], query: Mapping[str, str]) -> None:
        if kind == "job":
            found = _type(self.session, type_id)
            if found is None:
                raise ActionTypeNotFoundException(
                    f"ActionType (Category: '{type_id['category']}', Owner: "
                    f"'{type_id['owner']}', Provider: '{type_id['provider']}', Version: "
                    f"'{type_id['version']}') is not available"
                )
            wanted = found.queryable_property
            if wanted and wanted not in query:
                # PollForJobs: "For an action type with a queryable property, you must supply
                # that property as a key in the map."
                raise ValidationException(
                    f"queryParam must name the queryable property {wanted} of this action type."
                )
            unknown = set(query) - {wanted}
            if unknown:
                raise ValidationException(
                    f"queryParam names properties that are not queryable: {', '.join(sorted(unknown))}."
                )

    def _claim(self, pk: int, query: Mapping[str, str]) -> Job | None:
        job = self.session.get(Job, pk)
        if job is None or any(job.query.get(k) != v for k, v in query.items()):
            return None
        now = self.o.clock()
        nonce = "".join(secrets.choice(_NONCE_ALPHABET) for _ in range(24))
        taken = self.session.execute(
            update(Job)
            .where(Job.pk == pk, Job.status == "Queued")
            .values(status="Dispatched", nonce=nonce, dispatched_at=now)
            .execution_options(synchronize_session=False)
        )
        if taken.rowcount != 1:  # type: ignore[attr-defined]
            return None  # another poll took it first
        self.session.refresh(job)
        mint(job, now, CREDENTIAL_LIFETIME)
        return job

    def find(self, job_id: str, kind: str | None = None) -> Job:
        job = self.session.scalar(select(Job).where(Job.job_id == job_id))
        if job is None or (
            kind is not None and (job.kind == "third_party") != (kind == "third_party")
        ):
            raise JobNotFoundException(f"The job {job_id} was not found.")
        return job

    def check_client(self, job_id: str, client_token: str) -> None:
        """A third-party job answers one client: the first client token presented for it binds
        it, and any other token is refused from then on."""
        job = self.find(job_id, "third_party")
        if job.client_token is None:
            job.client_token = client_token
        elif not secrets.compare_digest(job.client_token, client_token):
            raise InvalidClientTokenException(f"The client token is not valid for job {job_id}.")

    def acknowledge(self, job_id: str, nonce: str, kind: str = "job") -> str:
        job = self.find(job_id, kind)
        if job.nonce is None or not secrets.compare_digest(job.nonce, nonce):
            raise InvalidNonceException(f"The nonce does not match job {job_id}.")
        if job.status == "Dispatched":
            job.status, job.acknowledged_at = "InProgress", self.o.clock()
        return job.status

    def details(self, job_id: str, kind: str = "job") -> Job:
        job = self.find(job_id, kind)
        if job.status in OPEN and job.access_key_id is None:
            mint(job, self.o.clock(), CREDENTIAL_LIFETIME)
        return job

    # -- results -----------------------------------------------------------------------------
    def succeed(
        self,
        job_id: str,
        *,
        kind: str = "job",
        revision: Mapping[str, Any] | None = None,
        continuation: str | None = None,
        details: Mapping[str, Any] | None = None,
        variables: Mapping[str, str] | None = None,
    ) -> None:
        job, action = self._open(job_id, kind)
        _check_variables(variables or {})
        details = details or {}
        job.status, job.ended_at = "Succeeded", self.o.clock()
        action.summary = details.get("summary") or action.summary
        action.external_execution_id = (
            details.get("externalExecutionId") or action.external_execution_id
        )
        if continuation is not None:
            self._continue(job, action, continuation)
            return
        action.output_variables = dict(variables or {})
        if revision:
            action.revision = {
                "revisionId": revision["revision"],
                "revisionChangeId": revision.get("changeIdentifier"),
                "created": _epoch(revision.get("created")),
                "summary": revision.get("revisionSummary"),
                "url": None,
            }
        action.awaits_job = False
        self.o.finish_action(action, ActionStatus.SUCCEEDED)

    def fail(self, job_id: str, failure: Mapping[str, Any], kind: str = "job") -> None:
        job, action = self._open(job_id, kind)
        job.status, job.ended_at = "Failed", self.o.clock()
        action.error_code = failure["type"]
        action.error_message = str(failure.get("message") or failure["type"])[:5000]
        action.external_execution_id = (
            failure.get("externalExecutionId") or action.external_execution_id
        )
        action.awaits_job = False
        self.o.finish_action(action, ActionStatus.FAILED)

    def expire_unacknowledged(self, pk: int, deadline: Any) -> bool:
        """A job polled before `deadline` and never acknowledged fails its action."""
        job = self.session.get(Job, pk)
        action = self.session.get(ActionExecution, job.action_pk) if job else None
        if job is None or action is None:
            return False
        self.o.lock_pipeline(action.pipeline_id)
        self.session.refresh(job)
        self.session.refresh(action)
        if job.status != "Dispatched" or job.dispatched_at is None or job.dispatched_at >= deadline:
            return False
        job.status, job.ended_at = "TimedOut", self.o.clock()
        if action.status == ActionStatus.IN_PROGRESS:
            action.error_code = "JobFailed"
            action.error_message = (
                f"The job worker that polled job {job.job_id} did not acknowledge it within "
                f"{self.o.settings.job_ack_timeout_seconds:g} seconds."
            )
            action.awaits_job = False
            self.o.finish_action(action, ActionStatus.FAILED, fence=True)
        return True

    def _open(self, job_id: str, kind: str) -> tuple[Job, ActionExecution]:
        job = self.find(job_id, kind)
        action = self.session.get(ActionExecution, job.action_pk)
        assert action is not None
        self.o.lock_pipeline(action.pipeline_id)
        self.session.refresh(job)
        self.session.refresh(action)
        if job.status not in OPEN:
            raise InvalidJobStateException(f"The job {job_id} is already {job.status}.")
        if action.status != ActionStatus.IN_PROGRESS:
            job.status, job.ended_at = (
                "TimedOut" if action.error_code == "TimedOut" else "Failed",
                self.o.clock(),
            )
            raise InvalidJobStateException(
                f"The action of job {job_id} is no longer running ({action.status})."
            )
        return job, action

    def _continue(self, job: Job, action: ActionExecution, token: str) -> None:
        """The action keeps running; its next job carries the continuation token."""
        where = job.data["pipelineContext"]
        context = JobContext(
            where["pipelineName"], where["pipelineArn"], where["pipelineExecutionId"]
        )
        new_job(self.session, action, job.kind, context, token)
        if job.kind == "lambda":  # the function is invoked again, by a worker of ours
            action.awaits_job = False
            # The worker that invoked it may not have recorded AwaitingJob yet: fence it out
            # (its late record would park the attempt again) and free the attempt at once.
            action.lease_token += 1
            action.lease_expires_at = None
            self.o.after_commit_dispatch(action.action_execution_id)


def _check_variables(variables: Mapping[str, str]) -> None:
    size = sum(len(k) + len(v) for k, v in variables.items())
    if size > MAX_OUTPUT_VARIABLES_CHARS:
        raise OutputVariablesSizeExceededException(
            f"The output variables are {size} characters; the limit is {MAX_OUTPUT_VARIABLES_CHARS}."
        )


def _epoch(value: Any) -> float | None:
    if value is None:
        return None
    return float(value.timestamp()) if hasattr(value, "timestamp") else float(value)


def wire_job(job: Job, account_id: str) -> dict[str, Any]:
    """A Job (PollForJobs) — its data with the job's credentials."""
    return {"id": job.job_id, "data": wire_data(job), "nonce": job.nonce, "accountId": account_id}


def wire_data(job: Job) -> dict[str, Any]:
    data = dict(job.data)
    if job.access_key_id:
        data["artifactCredentials"] = {
            "accessKeyId": job.access_key_id,
            "secretAccessKey": job.secret_access_key,
            "sessionToken": job.session_token,
        }
    return data
