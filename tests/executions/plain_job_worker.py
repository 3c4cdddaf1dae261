"""A job worker written with plain boto3, as an outside system would write one against AWS —
nothing of Stageline's code. The tests run it as a subprocess.

    python plain_job_worker.py ENDPOINT CATEGORY PROVIDER VERSION MODE [--seconds S] [--out F]

Modes: succeed, continue (answers a continuation token first), fail, die (exits after
acknowledging), claim (for --seconds: takes every job it gets, writes its id to --out,
and succeeds it).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
import zipfile
from typing import Any

import boto3
from botocore.config import Config


def clients(endpoint: str) -> Any:
    return boto3.client(
        "codepipeline",
        endpoint_url=endpoint,
        region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        config=Config(retries={"max_attempts": 2}),
    )


def poll(cp: Any, type_id: dict[str, str], until: float) -> dict[str, Any] | None:
    while time.monotonic() < until:
        jobs = cp.poll_for_jobs(
            actionTypeId=type_id, maxBatchSize=1, queryParam={"Target": "prod"}
        )["jobs"]
        if jobs:
            job: dict[str, Any] = jobs[0]
            return job
        time.sleep(0.2)
    return None


def s3_of(endpoint: str, job: dict[str, Any]) -> Any:
    creds = job["data"]["artifactCredentials"]
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=creds["accessKeyId"],
        aws_secret_access_key=creds["secretAccessKey"],
        aws_session_token=creds["sessionToken"],
    )


def work(endpoint: str, job: dict[str, Any]) -> dict[str, str]:
    """Read the first input artifact, write every output artifact; the variables to report."""
    s3 = s3_of(endpoint, job)
    data = job["data"]
    files: dict[str, str] = {}
    for artifact in data["inputArtifacts"]:
        where = artifact["location"]["s3Location"]
        body = s3.get_object(Bucket=where["bucketName"], Key=where["objectKey"])["Body"].read()
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            files.update({n: archive.read(n).decode() for n in archive.namelist()})
    config = data["actionConfiguration"]["configuration"]
    result = f"{config.get('Target', '-')}:{files.get('app.txt', '').strip()}"
    for artifact in data["outputArtifacts"]:
        where = artifact["location"]["s3Location"]
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("result.txt", result)
        s3.put_object(Bucket=where["bucketName"], Key=where["objectKey"], Body=buffer.getvalue())
    return {"RESULT": result}


def handle(cp: Any, endpoint: str, job: dict[str, Any], mode: str) -> None:
    cp.acknowledge_job(jobId=job["id"], nonce=job["nonce"])
    if mode == "die":
        os._exit(3)
    if mode == "fail":
        cp.put_job_failure_result(
            jobId=job["id"],
            failureDetails={
                "type": "JobFailed",
                "message": "the outside system said no",
                "externalExecutionId": "ext-42",
            },
        )
        return
    if mode == "continue" and "continuationToken" not in job["data"]:
        cp.put_job_success_result(
            jobId=job["id"],
            continuationToken="step-1",
            executionDetails={"summary": "half way", "percentComplete": 50},
        )
        return
    variables = work(endpoint, job)
    if "continuationToken" in job["data"]:
        variables["TOKEN"] = job["data"]["continuationToken"]
    cp.put_job_success_result(
        jobId=job["id"],
        executionDetails={
            "summary": "done outside",
            "externalExecutionId": "ext-1",
            "percentComplete": 100,
        },
        outputVariables=variables,
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    for name in ("endpoint", "category", "provider", "version", "mode"):
        parser.add_argument(name)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--out")
    args = parser.parse_args()
    cp = clients(args.endpoint)
    type_id = {
        "category": args.category,
        "owner": "Custom",
        "provider": args.provider,
        "version": args.version,
    }
    until = time.monotonic() + args.seconds
    handled = 0
    while True:
        job = poll(cp, type_id, until)
        if job is None:
            break
        if args.out:
            with open(args.out, "a") as out:
                out.write(json.dumps({"job": job["id"], "pid": os.getpid()}) + "\n")
        handle(cp, args.endpoint, job, "succeed" if args.mode == "claim" else args.mode)
        handled += 1
        if args.mode != "claim" and (args.mode != "continue" or "continuationToken" in job["data"]):
            break
    return 0 if handled else 1


if __name__ == "__main__":
    sys.exit(main())
