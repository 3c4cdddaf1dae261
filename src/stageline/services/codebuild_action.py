"""Build and Test / AWS / CodeBuild / 1: a pipeline action that runs a build of a project.

The build runs inside the action's own attempt — no second queue hop, the attempt's lease
and heartbeat cover it, and the action's log is the build's log — yet it is a real build:
BatchGetBuilds shows it, StopBuild stops it (failing the action), its id is the action's
externalExecutionId. As on AWS, the pipeline supplies the sources (input artifacts; the
first, or PrimarySource, is primary, the others secondary sources named by artifact) and
takes the artifacts (one output: the buildspec's `artifacts`; several: `secondary-artifacts`
entries named as the output artifacts); exported variables become output variables.
"""

from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy import select

from stageline.actions.base import ActionContext, Failed, Outcome, Succeeded
from stageline.domain.arns import Arns
from stageline.domain.errors import ServiceError
from stageline.persistence.db import Database
from stageline.persistence.models import ActionExecution, Build
from stageline.services.build_execution import BuildJob, BuildResult, SourceInput, timeout_of
from stageline.services.build_outputs import OutputTarget
from stageline.services.build_projects import ProjectService
from stageline.services.build_runner import BuildRunner
from stageline.services.build_views import build_url
from stageline.services.builds import BuildService, effective_document

STOP_CHECK_SECONDS = 1.0


class CodeBuildProvider:
    def __init__(self, db: Database, arns: Arns, runner: BuildRunner, public_url: str) -> None:
        self.db, self.arns, self.runner, self.public_url = db, arns, runner, public_url

    def run(self, ctx: ActionContext) -> Outcome:
        config = ctx.configuration
        if str(config.get("BatchEnabled", "false")).lower() == "true":
            return Failed(
                "BatchEnabled: batch builds are not supported by Stageline yet; remove "
                "BatchEnabled (or set it to false) to run a single build.",
                code="ConfigurationError",
            )
        try:
            overrides = _variables(config.get("EnvironmentVariables"))
            job = self._start(ctx, overrides)
        except ServiceError as exc:
            return Failed(exc.message, code="ConfigurationError")
        url = build_url(self.public_url, job.build_id)
        ctx.log.write(f"[Stageline] Build {job.build_id} of project {job.project_name}: {url}\n")
        result = self.runner.execution.execute(job, ctx.log, self._cancel_check(ctx, job.pk))
        self.runner.record(job.pk, result)
        return _outcome(job.build_id, url, result)

    def _start(self, ctx: ActionContext, variables: list[dict[str, Any]]) -> BuildJob:
        with self.db.unit_of_work() as uow:
            project = ProjectService(uow.session, self.arns).get_row(
                ctx.configuration["ProjectName"]
            )
            doc = effective_document(project.document, {"environmentVariablesOverride": variables})
            primary, secondary = _split_inputs(ctx)
            buildspec = (project.document.get("source") or {}).get("buildspec")
            doc["source"] = {
                "type": "CODEPIPELINE",
                **({"buildspec": buildspec} if buildspec else {}),
            }
            doc["secondarySources"] = [
                {"type": "CODEPIPELINE", "sourceIdentifier": i.name} for i in secondary
            ]
            doc["artifacts"] = {"type": "CODEPIPELINE"}
            doc["secondaryArtifacts"] = []
            action_pk = uow.session.scalar(
                select(ActionExecution.pk).where(
                    ActionExecution.action_execution_id == ctx.action_execution_id
                )
            )
            build = BuildService(uow, self.arns).create(
                project, doc, f"codepipeline/{ctx.pipeline_name}", None, action_pk=action_pk
            )
            job = BuildJob(
                pk=build.pk,
                build_id=build.build_id,
                project_name=project.name,
                build_number=build.build_number,
                initiator=build.initiator,
                document=doc,
                source_version=None,
                phases=list(build.phases),
                started_at=build.started_at,
                sources=[SourceInput(None, primary.location)]
                + [SourceInput(i.name, i.location) for i in secondary],
                outputs=_targets(ctx),
                timeout_seconds=timeout_of(doc, ctx.timeout_seconds),
                pipeline=True,
            )
        return job

    def _cancel_check(self, ctx: ActionContext, build_pk: int) -> Any:
        """Cancelled when the attempt is (stop, timeout, lost lease) or StopBuild was called;
        the database is asked at most once a second."""
        state = {"next": 0.0, "stopped": False}

        def cancelled() -> bool:
            if ctx.cancelled():
                return True
            if time.monotonic() >= state["next"]:
                state["next"] = time.monotonic() + STOP_CHECK_SECONDS
                with self.db.unit_of_work(write=False) as uow:
                    state["stopped"] = bool(
                        uow.session.scalar(select(Build.stop_requested).where(Build.pk == build_pk))
                    )
            return bool(state["stopped"])

        return cancelled


def _variables(raw: str | None) -> list[dict[str, Any]]:
    """The EnvironmentVariables property: a JSON list of {name, value, type}."""
    if not raw:
        return []
    try:
        items = json.loads(raw)
    except ValueError:
        raise ServiceError("EnvironmentVariables is not valid JSON.") from None
    if not isinstance(items, list) or not all(
        isinstance(i, dict) and isinstance(i.get("name"), str) and "value" in i for i in items
    ):
        raise ServiceError(
            'EnvironmentVariables must be a JSON list of {"name": ..., "value": ..., "type": '
            "PLAINTEXT | PARAMETER_STORE | SECRETS_MANAGER} objects."
        )
    kinds = {"PLAINTEXT", "PARAMETER_STORE", "SECRETS_MANAGER"}
    for item in items:
        if item.setdefault("type", "PLAINTEXT") not in kinds:
            raise ServiceError(
                f"EnvironmentVariables: {item['name']} has unknown type {item['type']}."
            )
        item["value"] = str(item["value"])
    return items


def _split_inputs(ctx: ActionContext) -> tuple[Any, list[Any]]:
    if not ctx.inputs:
        raise ServiceError("The CodeBuild action needs at least one input artifact.")
    wanted = ctx.configuration.get("PrimarySource")
    primary = next((i for i in ctx.inputs if i.name == wanted), None) if wanted else ctx.inputs[0]
    if primary is None:
        raise ServiceError(f"PrimarySource {wanted} is not one of the action's input artifacts.")
    return primary, [i for i in ctx.inputs if i is not primary]


def _targets(ctx: ActionContext) -> list[OutputTarget]:
    if len(ctx.outputs) == 1:
        return [OutputTarget(None, ctx.outputs[0].location, "ZIP")]
    return [OutputTarget(o.name, o.location, "ZIP") for o in ctx.outputs]


def _outcome(build_id: str, url: str, result: BuildResult) -> Outcome:
    if result.status == "SUCCEEDED":
        return Succeeded(
            summary=f"Build {build_id} succeeded",
            output_variables=dict(result.exported),
            external_execution_id=build_id,
            external_execution_url=url,
        )
    # CodeBuild's own wording in CodePipeline's errorDetails, then the log's last lines.
    message = (
        f"Build terminated with state: {result.status}. Phase: {result.failed_phase or '-'}, "
        f"Message: {result.message or '-'}"
    )
    if result.log_tail:
        message += "\nLast log lines:\n" + "\n".join(result.log_tail[-10:])
    return Failed(
        message, summary=f"Build {build_id} {result.status.lower()}", external_execution_id=build_id
    )
