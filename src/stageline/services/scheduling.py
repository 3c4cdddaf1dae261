"""Starting one action attempt: its resolved input, its artifact locations, its dispatch."""

from __future__ import annotations

import secrets
import string
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from stageline.domain.planner import run_order
from stageline.domain.status import ActionStatus
from stageline.domain.variables import UnresolvedVariable, resolve, resolve_all
from stageline.persistence.models import ActionExecution, PipelineExecution, StageExecution
from stageline.services.jobs import JobContext, job_kind, job_timeout_seconds, new_job

if TYPE_CHECKING:
    from stageline.services.orchestrator import Orchestrator

APPROVAL = ("Approval", "AWS", "Manual")
# "Quotas in AWS CodePipeline": the Amazon S3 deploy action may run 90 minutes, others 60.
S3_DEPLOY_TIMEOUT_MINUTES = 90


_KEY_ALPHABET = string.ascii_letters + string.digits


def artifact_key(pipeline_name: str, artifact_name: str) -> str:
    """The object key shape AWS uses: <pipeline name[:20]>/<artifact name[:10]>/<7 random>."""
    suffix = "".join(secrets.choice(_KEY_ALPHABET) for _ in range(7))
    return f"{pipeline_name[:20]}/{artifact_name[:10]}/{suffix}"


def is_approval(action: dict[str, Any]) -> bool:
    t = action["actionTypeId"]
    return (t["category"], t["owner"], t["provider"]) == APPROVAL


class ActionScheduler:
    def __init__(self, orchestrator: Orchestrator) -> None:
        self.o = orchestrator
        # Succeeded attempts per execution, read once per group scheduled in a transaction;
        # the orchestrator forgets them whenever an action of that execution changes status.
        self._succeeded_cache: dict[int, list[Any]] = {}

    def forget(self, execution_pk: int) -> None:
        self._succeeded_cache.pop(execution_pk, None)

    def namespaces(self, execution: PipelineExecution) -> dict[str, dict[str, str]]:
        """Variables visible to actions of this execution: its own, the pipeline's, and the
        output variables of every succeeded action that declared a namespace."""
        decl = self.o.declaration(execution)
        spaces: dict[str, dict[str, str]] = {
            "codepipeline": {"PipelineExecutionId": execution.execution_id},
            "variables": {v["name"]: v["value"] for v in execution.variables},
        }
        namespace_of = {
            (s["name"], a["name"]): a["namespace"]
            for s in decl["stages"]
            for a in s["actions"]
            if a.get("namespace")
        }
        for row in self._succeeded(execution):
            ns = namespace_of.get((row.stage_name, row.action_name))
            if ns:
                spaces[ns] = dict(row.output_variables)
        return spaces

    def _succeeded(self, execution: PipelineExecution) -> list[Any]:
        cached = self._succeeded_cache.get(execution.pk)
        if cached is not None:
            return cached
        # Only what namespaces and artifact locations need: not the (large) input column.
        rows = list(
            self.o.session.execute(
                select(
                    ActionExecution.stage_name,
                    ActionExecution.action_name,
                    ActionExecution.output_artifacts,
                    ActionExecution.output_variables,
                )
                .where(
                    ActionExecution.execution_pk == execution.pk,
                    ActionExecution.status == ActionStatus.SUCCEEDED,
                )
                .order_by(ActionExecution.pk)
            )
        )
        self._succeeded_cache[execution.pk] = rows
        return rows

    def _artifact_locations(self, execution: PipelineExecution) -> dict[str, dict[str, str]]:
        found: dict[str, dict[str, str]] = {}
        for row in self._succeeded(execution):
            for artifact in row.output_artifacts:
                found[artifact["name"]] = artifact["s3location"]
        return found

    def _store(self, execution: PipelineExecution, action: dict[str, Any]) -> str:
        decl = self.o.declaration(execution)
        if decl.get("artifactStore"):
            return str(decl["artifactStore"]["location"])
        stores = decl["artifactStores"]
        region = action.get("region") or next(iter(stores))
        return str(stores[region]["location"])

    def schedule(
        self, execution: PipelineExecution, stage: StageExecution, action: dict[str, Any]
    ) -> ActionExecution:
        now = self.o.clock()
        row = ActionExecution(
            action_execution_id=str(uuid.uuid4()),
            execution_pk=execution.pk,
            pipeline_id=execution.pipeline_id,
            stage_name=stage.stage_name,
            action_name=action["name"],
            stage_attempt=stage.attempt,
            run_order=run_order(action),
            status=ActionStatus.IN_PROGRESS,
            started_at=now,
            updated_at=now,
            timeout_at=now + timedelta(minutes=self._timeout_minutes(action)),
            output_artifacts=[],
            output_variables={},
            lease_token=0,
        )
        try:
            row.input = self._input(execution, action)
        except UnresolvedVariable as error:
            row.input = self._input(execution, action, resolve_config=False)
            self.o.new_action(row)
            row.error_code, row.error_message = "ConfigurationError", error.message
            self.o.set_action(row, ActionStatus.FAILED)
            return row
        bucket = self._store(execution, action)
        pipeline_name = self.o.declaration(execution)["name"]
        row.output_artifacts = [
            {
                "name": o["name"],
                "s3location": {"bucket": bucket, "key": artifact_key(pipeline_name, o["name"])},
                "files": list(o.get("files") or []),
            }
            for o in action.get("outputArtifacts") or []
        ]
        if is_approval(action):
            # Waits on people, not on a worker: a token per attempt, and what the approver
            # needs to see (CustomData, ExternalEntityLink) in GetPipelineState.
            config = row.input.get("resolvedConfiguration", {})
            row.approval_token = str(uuid.uuid4())
            # AWS hands PARALLEL-mode approvers the token as the externalExecutionId.
            row.external_execution_id = row.approval_token
            row.summary = config.get("CustomData")
            row.external_execution_url = config.get("ExternalEntityLink")
            self.o.new_action(row)
            return row
        kind = job_kind(action["actionTypeId"])
        if kind is not None:
            return self._schedule_job(execution, action, row, kind)
        row.dispatched_at = now
        self.o.new_action(row)
        self.o.after_commit_dispatch(row.action_execution_id)
        return row

    def _schedule_job(
        self, execution: PipelineExecution, action: dict[str, Any], row: ActionExecution, kind: str
    ) -> ActionExecution:
        """Custom and third-party actions wait on a job worker (no worker of ours holds them);
        a Lambda action's job is handed to the function by one of our workers."""
        settings, name = self.o.settings, self.o.declaration(execution)["name"]
        arn = f"arn:aws:codepipeline:{settings.region}:{settings.account_id}:{name}"
        row.awaits_job = kind != "lambda"
        timeout = job_timeout_seconds(self.o.session, row.input["actionTypeId"])
        if timeout is not None and not action.get("timeoutInMinutes"):
            row.timeout_at = row.started_at + timedelta(seconds=timeout)
        self.o.new_action(row)
        self.o.session.flush()
        new_job(self.o.session, row, kind, JobContext(name, arn, execution.execution_id), None)
        if kind == "lambda":
            row.dispatched_at = row.started_at
            self.o.after_commit_dispatch(row.action_execution_id)
        return row

    def _timeout_minutes(self, action: dict[str, Any]) -> int:
        if action.get("timeoutInMinutes"):
            return int(action["timeoutInMinutes"])
        if is_approval(action):
            return self.o.settings.approval_timeout_minutes
        if (
            action["actionTypeId"]["category"] == "Deploy"
            and action["actionTypeId"]["provider"] == "S3"
        ):
            return max(S3_DEPLOY_TIMEOUT_MINUTES, self.o.settings.action_timeout_minutes)
        return self.o.settings.action_timeout_minutes

    def _input(
        self, execution: PipelineExecution, action: dict[str, Any], *, resolve_config: bool = True
    ) -> dict[str, Any]:
        configuration = dict(action.get("configuration") or {})
        spaces = self.namespaces(execution)
        locations = self._artifact_locations(execution)
        result: dict[str, Any] = {
            "actionTypeId": action["actionTypeId"],
            "configuration": configuration,
            "roleArn": action.get("roleArn"),
            "region": action.get("region"),
            "namespace": action.get("namespace"),
            "inputArtifacts": [
                {"name": i["name"], "s3location": locations.get(i["name"])}
                for i in action.get("inputArtifacts") or []
            ],
            "commands": list(action.get("commands") or []),
            "outputVariableNames": list(action.get("outputVariables") or []),
            "environmentVariables": list(action.get("environmentVariables") or []),
        }
        if resolve_config:
            result["resolvedConfiguration"] = resolve_all(configuration, spaces)
            result["commands"] = [resolve(c, spaces) for c in result["commands"]]
            result["environmentVariables"] = [
                {**v, "value": resolve(v["value"], spaces)} for v in result["environmentVariables"]
            ]
        return result
