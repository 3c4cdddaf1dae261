"""Pipelines that really run on a test server, and waits for their executions.

The server's embedded folder store keeps a bucket as the directory
`<data_dir>/artifacts/<bucket>` and an object as the file `<bucket>/<key>`, so a test puts a
source zip in place by writing that file (`write_source`, `source_bucket`). The declarations
are V2 pipelines of the action types Stageline runs itself: an S3 source reading that zip,
then Commands and manual approval actions. The waits poll over boto3 (any CodePipeline
client pointed at the server) and fail with the execution's action details, never hang.
"""

from __future__ import annotations

import io
import os
import time
import uuid
import zipfile
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from tests.executions import declarations
from tests.executions.declarations import commands as commands  # shared builder

ROLE_ARN = "arn:aws:iam::000000000000:role/stageline-test"
ARTIFACT_BUCKET = "stageline-test-artifacts"
SOURCE_KEY = "app.zip"
TERMINAL = frozenset({"Succeeded", "Failed", "Stopped", "Superseded", "Cancelled"})
ACTION_TERMINAL = frozenset({"Succeeded", "Failed", "Abandoned"})
DEFAULT_TIMEOUT = 60.0
POLL_SECONDS = 0.2
T = TypeVar("T")


def unique(prefix: str) -> str:
    """A name no other test uses (lowercase, so it is also a valid bucket name)."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


# -- source objects -------------------------------------------------------------------------


def zip_bytes(files: Mapping[str, str | bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def write_source(
    data_dir: Path,
    bucket: str,
    key: str = SOURCE_KEY,
    files: Mapping[str, str | bytes] | None = None,
) -> Path:
    """Write a zip of `files` as object `key` of `bucket` in the server's folder store
    (atomically, so a running source action never reads half of it); returns its path."""
    path = data_dir / "artifacts" / bucket / key
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{uuid.uuid4().hex}.part")
    partial.write_bytes(zip_bytes(files if files is not None else {"README.md": "hello\n"}))
    os.replace(partial, path)
    return path


def source_bucket(
    data_dir: Path, files: Mapping[str, str | bytes] | None = None, key: str = SOURCE_KEY
) -> str:
    """A new bucket holding a source zip at `key`; returns the bucket's name."""
    bucket = unique("src")
    write_source(data_dir, bucket, key, files)
    return bucket


# -- declarations ---------------------------------------------------------------------------


def s3_source(
    bucket: str, key: str = SOURCE_KEY, *, name: str = "Source", output: str = "SourceOutput"
) -> dict[str, Any]:
    return {
        "name": name,
        "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"},
        "configuration": {"S3Bucket": bucket, "S3ObjectKey": key, "PollForSourceChanges": "false"},
        "outputArtifacts": [{"name": output}],
    }


def approval(name: str = "Approve", *, custom_data: str | None = None) -> dict[str, Any]:
    return declarations.approval(name, summary=custom_data)


def stage(name: str, *actions: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "actions": list(actions)}


def runnable_pipeline(
    name: str,
    bucket: str,
    *stages: dict[str, Any],
    key: str = SOURCE_KEY,
    mode: str = "PARALLEL",
    variables: Sequence[Mapping[str, str]] = (),
) -> dict[str, Any]:
    """A V2 pipeline: a Source stage reading `bucket/key` (output SourceOutput), then `stages`.

    PARALLEL by default, so runs neither queue behind nor supersede one another; pass
    mode="SUPERSEDED" or "QUEUED" to test those."""
    declaration: dict[str, Any] = {
        "name": name,
        "roleArn": ROLE_ARN,
        "artifactStore": {"type": "S3", "location": ARTIFACT_BUCKET},
        "stages": [stage("Source", s3_source(bucket, key)), *stages],
        "pipelineType": "V2",
        "executionMode": mode,
    }
    if variables:
        declaration["variables"] = [dict(v) for v in variables]
    return declaration


# -- waiting --------------------------------------------------------------------------------


def wait_until(
    probe: Callable[[], T | None],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    interval: float = POLL_SECONDS,
    message: str | Callable[[], str] = "condition",
) -> T:
    """Call `probe` until it returns something other than None (or False); return that."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found is not None and found is not False:
            return found
        if time.monotonic() >= deadline:
            text = message() if callable(message) else message
            raise AssertionError(f"timed out after {timeout:g}s waiting for {text}")
        time.sleep(interval)


def action_details(cp: Any, pipeline: str, execution_id: str) -> list[dict[str, Any]]:
    """Every action attempt of an execution (ListActionExecutions), oldest first."""
    details: list[dict[str, Any]] = []
    for page in cp.get_paginator("list_action_executions").paginate(
        pipelineName=pipeline, filter={"pipelineExecutionId": execution_id}
    ):
        details += page["actionExecutionDetails"]
    details.reverse()  # the API lists newest first; ties in startTime stay in creation order
    return sorted(details, key=lambda d: d["startTime"])


def describe(cp: Any, pipeline: str, execution_id: str) -> str:
    """A one-line-per-action account of an execution, for assertion messages."""
    execution = cp.get_pipeline_execution(pipelineName=pipeline, pipelineExecutionId=execution_id)
    lines = [
        f"execution {execution_id} of {pipeline}: {execution['pipelineExecution']['status']} "
        f"({execution['pipelineExecution'].get('statusSummary')})"
    ]
    for d in action_details(cp, pipeline, execution_id):
        result = d.get("output", {}).get("executionResult", {})
        lines.append(
            f"  {d['stageName']}.{d['actionName']}: {d['status']} "
            f"{result.get('externalExecutionSummary') or ''} {result.get('errorDetails') or ''}"
        )
    return "\n".join(lines)


def _wanted(status: str | Collection[str]) -> frozenset[str]:
    return frozenset({status} if isinstance(status, str) else status)


def wait_for_execution(
    cp: Any,
    pipeline: str,
    execution_id: str,
    status: str | Collection[str] = "Succeeded",
    *,
    timeout: float = DEFAULT_TIMEOUT,
) -> dict[str, Any]:
    """Poll GetPipelineExecution until the execution's status is one of `status`; return
    the execution. Fails at once if it ends in another status, or after `timeout`."""
    wanted = _wanted(status)

    def probe() -> dict[str, Any] | None:
        got: dict[str, Any] = cp.get_pipeline_execution(
            pipelineName=pipeline, pipelineExecutionId=execution_id
        )["pipelineExecution"]
        if got["status"] in wanted:
            return got
        if got["status"] in TERMINAL:
            raise AssertionError(
                f"expected {sorted(wanted)}, but {describe(cp, pipeline, execution_id)}"
            )
        return None

    return wait_until(
        probe,
        timeout=timeout,
        message=lambda: f"{sorted(wanted)}: {describe(cp, pipeline, execution_id)}",
    )


def wait_for_action(
    cp: Any,
    pipeline: str,
    execution_id: str,
    action: str,
    status: str | Collection[str] = "InProgress",
    *,
    timeout: float = DEFAULT_TIMEOUT,
) -> dict[str, Any]:
    """Poll ListActionExecutions until the latest attempt of `action` in the execution has
    one of `status`; return its details. Fails at once if it ends in another status."""
    wanted = _wanted(status)

    def probe() -> dict[str, Any] | None:
        attempts = [
            d for d in action_details(cp, pipeline, execution_id) if d["actionName"] == action
        ]
        if not attempts:
            return None
        latest = attempts[-1]
        if latest["status"] in wanted:
            return latest
        if latest["status"] in ACTION_TERMINAL:
            raise AssertionError(
                f"expected {action} {sorted(wanted)}, but {describe(cp, pipeline, execution_id)}"
            )
        return None

    return wait_until(
        probe,
        timeout=timeout,
        message=lambda: f"{action} {sorted(wanted)}: {describe(cp, pipeline, execution_id)}",
    )
