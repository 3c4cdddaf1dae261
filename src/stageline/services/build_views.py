"""Builds and test reports as CodeBuild's API shows them (BatchGetBuilds, BatchGetReports)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from stageline.domain.arns import Arns
from stageline.persistence.models import Build, BuildReport


def build_url(public_url: str, build_id: str) -> str:
    """Where a person looks at a build: its page on this Stageline."""
    return f"{public_url.rstrip('/')}/api/v1/builds/{quote(build_id, safe=':')}"


def build_view(row: Build, arns: Arns, public_url: str) -> dict[str, Any]:
    doc = row.document
    link = build_url(public_url, row.build_id)
    view: dict[str, Any] = {
        "id": row.build_id,
        "arn": arns.build(row.build_id),
        "buildNumber": row.build_number,
        "startTime": row.started_at,
        "endTime": row.ended_at,
        "currentPhase": row.current_phase,
        "buildStatus": row.status,
        "sourceVersion": row.source_version,
        "resolvedSourceVersion": row.resolved_source_version,
        "projectName": row.project_name,
        "phases": [_phase_view(p) for p in row.phases],
        "source": doc.get("source"),
        "secondarySources": doc.get("secondarySources") or [],
        "secondarySourceVersions": doc.get("secondarySourceVersions") or [],
        "artifacts": row.outputs.get("artifacts") or _no_artifacts(doc),
        "secondaryArtifacts": row.outputs.get("secondaryArtifacts") or [],
        "cache": doc.get("cache"),
        "environment": doc.get("environment"),
        "serviceRole": doc.get("serviceRole"),
        "logs": {
            # Not CloudWatch: the log lives in Stageline; the deep link streams it.
            "groupName": f"/aws/codebuild/{row.project_name}",
            "streamName": row.build_id.split(":", 1)[1],
            "deepLink": f"{link}/logs",
            "cloudWatchLogs": {"status": "DISABLED"},
            "s3Logs": {"status": "DISABLED"},
        },
        "timeoutInMinutes": doc.get("timeoutInMinutes"),
        "queuedTimeoutInMinutes": doc.get("queuedTimeoutInMinutes"),
        "buildComplete": row.status != "IN_PROGRESS",
        "initiator": row.initiator,
        "encryptionKey": doc.get("encryptionKey"),
        "exportedEnvironmentVariables": row.exported_variables,
        "reportArns": row.report_arns,
    }
    return {k: v for k, v in view.items() if v is not None}


def _phase_view(phase: dict[str, Any]) -> dict[str, Any]:
    view = {
        "phaseType": phase["phaseType"],
        "phaseStatus": phase.get("phaseStatus"),
        "startTime": _time(phase.get("startTime")),
        "endTime": _time(phase.get("endTime")),
        "durationInSeconds": phase.get("durationInSeconds"),
        "contexts": phase.get("contexts"),
    }
    return {k: v for k, v in view.items() if v is not None}


def _time(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


def _no_artifacts(doc: dict[str, Any]) -> dict[str, Any]:
    kind = (doc.get("artifacts") or {}).get("type", "NO_ARTIFACTS")
    return {"location": ""} if kind != "NO_ARTIFACTS" else {}


def report_view(row: BuildReport, arns: Arns, build_id: str) -> dict[str, Any]:
    group = row.report_group_arn.rsplit("/", 1)[-1]
    return {
        "arn": row.arn,
        "type": "TEST",
        "name": group,
        "reportGroupArn": row.report_group_arn,
        "executionId": arns.build(build_id),
        "status": row.status,
        "created": row.created_at,
        "exportConfig": {"exportConfigType": "NO_EXPORT"},
        "truncated": False,
        **({"testSummary": row.summary} if row.summary else {}),
    }
