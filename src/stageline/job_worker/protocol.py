"""CodePipeline's job calls, with the errors a worker must tell apart: an unreachable or busy
endpoint (Transient: back off, try again), refused credentials or an unknown action type
(Fatal: say so and stop), and the job-level refusals (botocore's ClientError: skip the job)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.config import Config
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    HTTPClientError,
    NoCredentialsError,
    PartialCredentialsError,
    ReadTimeoutError,
)

from stageline.job_worker.conventions import MAX_MESSAGE

AUTH_CODES = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
        "IncompleteSignatureException",
        "MissingAuthenticationTokenException",
        "InvalidClientTokenId",
        "ExpiredTokenException",
        "AccessDeniedException",
    }
)
TRANSIENT_CODES = frozenset(
    {"ThrottlingException", "ServiceUnavailable", "InternalFailure", "InternalError"}
)
UNREACHABLE = (
    EndpointConnectionError,
    ConnectTimeoutError,
    ReadTimeoutError,
    ConnectionClosedError,
    HTTPClientError,
)
REPORT_ATTEMPTS = 6


class Fatal(Exception):
    """The worker cannot go on (credentials refused, unknown action type...)."""


class Transient(Exception):
    """The endpoint is unreachable or busy: back off and try again."""


@dataclass(frozen=True)
class Result:
    """The arguments of PutJobSuccessResult, or of PutJobFailureResult when `failure`."""

    arguments: dict[str, Any]
    failure: bool = False

    @property
    def verdict(self) -> str:
        if self.failure:
            return "failed"
        return "continues" if "continuationToken" in self.arguments else "succeeded"


def failed(kind: str, message: str, job_id: str) -> Result:
    """A failure (FailureType: JobFailed, ConfigurationError, ...) with AWS's message limit."""
    details = {
        "type": kind,
        "message": message[:MAX_MESSAGE] or kind,
        "externalExecutionId": job_id,
    }
    return Result({"jobId": job_id, "failureDetails": details}, failure=True)


def error_of(exc: ClientError) -> tuple[str, str]:
    error = exc.response.get("Error", {})
    return str(error.get("Code", "")), str(error.get("Message", ""))


class CodePipeline:
    def __init__(self, session: Any, region: str, endpoint_url: str | None) -> None:
        config = Config(
            retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=60
        )
        self.client: Any = session.client(
            "codepipeline", region_name=region, endpoint_url=endpoint_url, config=config
        )
        self.endpoint = str(self.client.meta.endpoint_url)

    def call(self, operation: str, **params: Any) -> Any:
        try:
            return getattr(self.client, operation)(**params)
        except UNREACHABLE as exc:
            raise Transient(f"cannot reach CodePipeline at {self.endpoint}: {exc}") from exc
        except (NoCredentialsError, PartialCredentialsError) as exc:
            raise Fatal(
                f"no usable AWS credentials ({exc}): set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY (on Stageline, its root access key) or AWS_PROFILE"
            ) from exc
        except ClientError as exc:
            code, message = error_of(exc)
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
            if code in AUTH_CODES:
                raise Fatal(
                    f"CodePipeline at {self.endpoint} refused the credentials: {code}: "
                    f"{message} (check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)"
                ) from exc
            if code in TRANSIENT_CODES or status >= 500:
                raise Transient(
                    f"CodePipeline at {self.endpoint}: {code or status}: {message}"
                ) from exc
            raise

    def poll(self, type_id: Mapping[str, str], query: Mapping[str, str]) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"actionTypeId": dict(type_id), "maxBatchSize": 1}
        if query:
            params["queryParam"] = dict(query)
        try:
            jobs: list[dict[str, Any]] = self.call("poll_for_jobs", **params).get("jobs", [])
        except ClientError as exc:
            code, message = error_of(exc)
            hint = ""
            if code == "ActionTypeNotFoundException":
                hint = " (create it with `aws codepipeline create-custom-action-type`)"
            raise Fatal(f"PollForJobs refused: {code}: {message}{hint}") from exc
        return jobs

    def acknowledge(self, job_id: str, nonce: str) -> str:
        """The job's status after AcknowledgeJob (InProgress: it is ours to run)."""
        return str(self.call("acknowledge_job", jobId=job_id, nonce=nonce).get("status"))

    def secret_names(self, type_id: Mapping[str, str]) -> set[str]:
        """The type's configuration properties marked secret, from ListActionTypes."""
        pages = self.client.get_paginator("list_action_types").paginate(actionOwnerFilter="Custom")
        for page in pages:
            for action_type in page.get("actionTypes", []):
                if action_type.get("id") == dict(type_id):
                    return {
                        str(p["name"])
                        for p in action_type.get("actionConfigurationProperties", [])
                        if p.get("secret")
                    }
        return set()

    def report(self, result: Result, say: Callable[[str], None]) -> bool:
        """PutJobSuccessResult or PutJobFailureResult, retried while the endpoint is away;
        True when CodePipeline took it."""
        job_id = result.arguments["jobId"]
        operation = "put_job_failure_result" if result.failure else "put_job_success_result"
        delay = 1.0
        for attempt in range(1, REPORT_ATTEMPTS + 1):
            try:
                self.call(operation, **result.arguments)
                return True
            except Transient as exc:
                if attempt == REPORT_ATTEMPTS:
                    say(f"job {job_id}: result not reported: {exc}")
                    return False
                time.sleep(delay)
                delay *= 2
            except ClientError as exc:
                code, message = error_of(exc)
                say(
                    f"job {job_id}: result refused: {code}: {message} "
                    "(the action may have timed out or been stopped)"
                )
                return False
        return False
