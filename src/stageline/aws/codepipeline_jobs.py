"""The job protocol's operations: job workers (custom actions), third parties and Lambda
functions take jobs and report their results. Thin: a unit of work and a JobService call."""

from __future__ import annotations

from typing import Any

from stageline.aws.router import AwsCall, Handler
from stageline.persistence.db import UnitOfWork
from stageline.runtime import Runtime
from stageline.services.jobs import JobService, wire_data, wire_job
from stageline.services.orchestrator import Orchestrator

Output = dict[str, Any] | None


def _jobs(rt: Runtime, uow: UnitOfWork) -> JobService:
    return JobService(Orchestrator(uow, rt.dispatcher, rt.executions), rt.settings.account_id)


def poll_for_jobs(rt: Runtime, call: AwsCall) -> Output:
    p = call.params
    with rt.db.unit_of_work() as uow:
        jobs = _jobs(rt, uow).poll(
            "job", p["actionTypeId"], p.get("maxBatchSize") or 1, p.get("queryParam") or {}
        )
        return {"jobs": [wire_job(j, rt.settings.account_id) for j in jobs]}


def acknowledge_job(rt: Runtime, call: AwsCall) -> Output:
    with rt.db.unit_of_work() as uow:
        status = _jobs(rt, uow).acknowledge(call.params["jobId"], call.params["nonce"])
    return {"status": status}


def get_job_details(rt: Runtime, call: AwsCall) -> Output:
    with rt.db.unit_of_work() as uow:
        job = _jobs(rt, uow).details(call.params["jobId"])
        details = {"id": job.job_id, "data": wire_data(job), "accountId": rt.settings.account_id}
    return {"jobDetails": details}


def put_job_success_result(rt: Runtime, call: AwsCall) -> Output:
    p = call.params
    with rt.db.unit_of_work() as uow:
        _jobs(rt, uow).succeed(
            p["jobId"],
            revision=p.get("currentRevision"),
            continuation=p.get("continuationToken"),
            details=p.get("executionDetails"),
            variables=p.get("outputVariables"),
        )
    return None


def put_job_failure_result(rt: Runtime, call: AwsCall) -> Output:
    with rt.db.unit_of_work() as uow:
        _jobs(rt, uow).fail(call.params["jobId"], call.params["failureDetails"])
    return None


# -- third parties ----------------------------------------------------------------------------


def poll_for_third_party_jobs(rt: Runtime, call: AwsCall) -> Output:
    p = call.params
    with rt.db.unit_of_work() as uow:
        jobs = _jobs(rt, uow).poll("third_party", p["actionTypeId"], p.get("maxBatchSize") or 1, {})
        return {"jobs": [{"clientId": j.job_id, "jobId": j.job_id} for j in jobs]}


def acknowledge_third_party_job(rt: Runtime, call: AwsCall) -> Output:
    p = call.params
    with rt.db.unit_of_work() as uow:
        jobs = _jobs(rt, uow)
        jobs.check_client(p["jobId"], p["clientToken"])
        status = jobs.acknowledge(p["jobId"], p["nonce"], "third_party")
    return {"status": status}


def get_third_party_job_details(rt: Runtime, call: AwsCall) -> Output:
    p = call.params
    with rt.db.unit_of_work() as uow:
        jobs = _jobs(rt, uow)
        jobs.check_client(p["jobId"], p["clientToken"])
        job = jobs.details(p["jobId"], "third_party")
        details = {"id": job.job_id, "data": wire_data(job), "nonce": job.nonce}
    return {"jobDetails": details}


def put_third_party_job_success_result(rt: Runtime, call: AwsCall) -> Output:
    p = call.params
    with rt.db.unit_of_work() as uow:
        jobs = _jobs(rt, uow)
        jobs.check_client(p["jobId"], p["clientToken"])
        jobs.succeed(
            p["jobId"],
            kind="third_party",
            revision=p.get("currentRevision"),
            continuation=p.get("continuationToken"),
            details=p.get("executionDetails"),
        )
    return None


def put_third_party_job_failure_result(rt: Runtime, call: AwsCall) -> Output:
    p = call.params
    with rt.db.unit_of_work() as uow:
        jobs = _jobs(rt, uow)
        jobs.check_client(p["jobId"], p["clientToken"])
        jobs.fail(p["jobId"], p["failureDetails"], "third_party")
    return None


HANDLERS: dict[str, Handler] = {
    "PollForJobs": poll_for_jobs,
    "AcknowledgeJob": acknowledge_job,
    "GetJobDetails": get_job_details,
    "PutJobSuccessResult": put_job_success_result,
    "PutJobFailureResult": put_job_failure_result,
    "PollForThirdPartyJobs": poll_for_third_party_jobs,
    "AcknowledgeThirdPartyJob": acknowledge_third_party_job,
    "GetThirdPartyJobDetails": get_third_party_job_details,
    "PutThirdPartyJobSuccessResult": put_third_party_job_success_result,
    "PutThirdPartyJobFailureResult": put_third_party_job_failure_result,
}
