"""Rules for the V2-only parts of a declaration and the per-stage gates.

Covers pipeline variables, triggers, execution mode, stage conditions (beforeEntry, onSuccess,
onFailure) and blockers. Texts marked "AWS" are the service's own as recorded by
cdk-preflight's probes of CreatePipeline (rules/codepipeline/*); others follow their style.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from stageline.domain.errors import (
    InvalidBlockerDeclarationException,
    InvalidStageDeclarationException,
    InvalidStructureException,
)
from stageline.domain.triggers import GlobError, glob_regex
from stageline.domain.validation_actions import locate

CONNECTION_PROVIDER = "CodeStarSourceConnection"
GATES = ("beforeEntry", "onSuccess", "onFailure")

# "Configure conditions for a stage": Entry -> Fail or Skip; On Failure / On Success ->
# Rollback. aws-cdk's documented example also uses FAIL on success and failure conditions,
# so FAIL is kept there rather than refusing a shape AWS's own tooling emits.
CONDITION_RESULTS = {
    "beforeEntry": frozenset({"FAIL", "SKIP"}),
    "onSuccess": frozenset({"ROLLBACK", "FAIL"}),
    "onFailure": frozenset({"ROLLBACK", "FAIL"}),
}


def check_pipeline_features(pipeline: Mapping[str, Any]) -> None:
    """Variables, triggers and execution mode ("Pipeline types": V2-only features)."""
    v1 = pipeline["pipelineType"] == "V1"
    variables = pipeline.get("variables") or []
    triggers = pipeline.get("triggers") or []
    if v1 and variables:
        # AWS: "Pipeline variable can only be used with V2 pipelines"
        raise InvalidStructureException("Pipeline variable can only be used with V2 pipelines")
    if v1 and triggers:
        # AWS: "Triggers on tag can only be used with V2 pipelines"
        raise InvalidStructureException("Triggers on tag can only be used with V2 pipelines")
    if v1 and pipeline["executionMode"] in ("QUEUED", "PARALLEL"):
        # AWS: "QUEUED or PARALLEL mode can only be used with V2 pipelines"
        raise InvalidStructureException(
            "QUEUED or PARALLEL mode can only be used with V2 pipelines"
        )
    _check_variable_names(variables)
    _check_triggers(triggers, pipeline["stages"])


def _check_variable_names(variables: Iterable[Mapping[str, Any]]) -> None:
    # AWS: "Variable names must be unique. The following variable name is already in use: X"
    seen: set[str] = set()
    for variable in variables:
        name = variable["name"]
        if name in seen:
            raise InvalidStructureException(
                "Variable names must be unique. The following variable name is already "
                f"in use: {name}"
            )
        seen.add(name)


def _check_triggers(
    triggers: Iterable[Mapping[str, Any]], stages: Sequence[Mapping[str, Any]]
) -> None:
    # PipelineTriggerDeclaration: "only supported for the CodeStarSourceConnection action
    # type"; GitConfiguration: "You can only specify one trigger configuration per source
    # action." AWS: "Triggers for connections must reference a CodeStarSourceConnection
    # action."
    connections = {
        action["name"]
        for action in stages[0]["actions"]
        if action["actionTypeId"]["provider"] == CONNECTION_PROVIDER
    }
    used: set[str] = set()
    for trigger in triggers:
        name = trigger["gitConfiguration"]["sourceActionName"]
        if name not in connections:
            raise InvalidStructureException(
                "Triggers for connections must reference a CodeStarSourceConnection action. "
                f"SourceActionName=[{name}]"
            )
        if name in used:
            raise InvalidStructureException(
                "You can only specify one trigger configuration per source action. "
                f"SourceActionName=[{name}]"
            )
        used.add(name)
        _check_globs(name, trigger["gitConfiguration"])


def _check_globs(action: str, git: Mapping[str, Any]) -> None:
    """Every pattern compiles with the glob compiler the triggers match with, so a typo is
    refused at CreatePipeline/UpdatePipeline rather than silently matching nothing."""
    for kind in ("push", "pullRequest"):
        for number, one in enumerate(git.get(kind) or (), start=1):
            for criteria in ("tags", "branches", "filePaths"):
                for side in ("includes", "excludes"):
                    for pattern in (one.get(criteria) or {}).get(side) or ():
                        try:
                            glob_regex(pattern)
                        except GlobError as exc:
                            raise InvalidStructureException(
                                f"{exc}. SourceActionName=[{action}], {kind} filter {number}, "
                                f"{criteria}.{side}"
                            ) from None


def check_stage(stage: Mapping[str, Any], pipeline_type: str, execution_mode: str) -> None:
    """Blockers and the stage's condition gates."""
    _check_blockers(stage)
    gates = [gate for gate in GATES if gate in stage]
    if gates and pipeline_type == "V1":
        # AWS: "Stage level conditions can only be used with V2 pipelines."
        raise InvalidStageDeclarationException(
            f"Stage level conditions can only be used with V2 pipelines. {locate(stage['name'])}"
        )
    for gate in gates:
        _check_condition_results(stage["name"], gate, stage[gate].get("conditions") or [])
    if "onFailure" in stage:
        _check_on_failure(stage["name"], stage["onFailure"], execution_mode)


def _check_blockers(stage: Mapping[str, Any]) -> None:
    # StageDeclaration.blockers and BlockerDeclaration are "Reserved for future use" in the
    # API reference; no CodePipeline feature accepts one, so any declared blocker is refused.
    blockers = stage.get("blockers") or []
    if blockers:
        blocker = blockers[0]
        raise InvalidBlockerDeclarationException(
            f"Blocker '{blocker['name']}' of type '{blocker['type']}' in stage "
            f"'{stage['name']}' is not supported: blockers are reserved for future use"
        )


def _check_condition_results(
    stage: str, gate: str, conditions: Iterable[Mapping[str, Any]]
) -> None:
    allowed = CONDITION_RESULTS[gate]
    for condition in conditions:
        result = condition.get("result")
        if result is not None and result not in allowed:
            raise InvalidStageDeclarationException(
                f"Result '{result}' is not supported for {gate} conditions of stage "
                f"'{stage}'. Supported results: {', '.join(sorted(allowed))}"
            )


def _check_on_failure(stage: str, on_failure: Mapping[str, Any], execution_mode: str) -> None:
    # AWS: "The following stage cannot have a failure exit gate configured with both top
    # level result and conditions: 'Deploy'"
    conditions = on_failure.get("conditions") or []
    if "result" in on_failure and conditions:
        raise InvalidStageDeclarationException(
            "The following stage cannot have a failure exit gate configured with both top "
            f"level result and conditions: '{stage}'"
        )
    results = {on_failure.get("result")} | {c.get("result") for c in conditions}
    if execution_mode == "PARALLEL" and "ROLLBACK" in results:
        # "Stage conditions": a PARALLEL run has no earlier execution to roll back to. AWS:
        # "Failure conditions with rollback result type cannot be added to a PARALLEL
        # pipeline."
        raise InvalidStageDeclarationException(
            "Failure conditions with rollback result type cannot be added to a PARALLEL "
            f"pipeline. {locate(stage)}"
        )
