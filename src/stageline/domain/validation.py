"""AWS CodePipeline's rules for a PipelineDeclaration, and the defaults it fills in.

The input has already passed botocore's shape validation (types, lengths, patterns, enums), so
only the cross-field rules the service enforces live here. Sources: the CodePipeline User
Guide's "CodePipeline pipeline structure reference", "Quotas in AWS CodePipeline", "Pipeline
types", "Variables reference" and the API reference's PipelineDeclaration; message texts marked
"AWS" are the service's own as quoted in public reports (moto, cdk-preflight, aws-cdk,
terraform-provider-aws issues). Action-level rules are in validation_actions, V2 features and
stage gates in validation_stages.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping, Sequence
from itertools import groupby
from typing import Any

from stageline.domain.errors import (
    InvalidActionDeclarationException,
    InvalidStageDeclarationException,
    InvalidStructureException,
    LimitExceededException,
)
from stageline.domain.validation_actions import ActionTypeLookup, check_action, locate
from stageline.domain.validation_stages import check_pipeline_features, check_stage

__all__ = ["ActionTypeLookup", "validate_pipeline"]

# "Quotas in AWS CodePipeline": stages 2..50, actions per stage 1..50 (fixed structural
# limits, so AWS reports them as invalid declarations). The per-pipeline action cap is the
# team's chosen 100 (AWS's 2022 quota page says 500), reported as LimitExceededException.
MIN_STAGES = 2
MAX_STAGES = 50
MAX_ACTIONS_PER_STAGE = 50
MAX_ACTIONS_PER_PIPELINE = 100

# "Variables reference": `codepipeline` is the namespace of the execution's own variables.
RESERVED_NAMESPACES = frozenset({"codepipeline"})

Action = Mapping[str, Any]
Stage = Mapping[str, Any]


def validate_pipeline(
    declaration: Mapping[str, Any], lookup: ActionTypeLookup, *, region: str | None = None
) -> dict[str, Any]:
    """A deep copy of `declaration` with AWS's defaults filled, or the AWS error it earns.

    `region` is the pipeline's own region; without it the rules that compare an action's
    region with the pipeline's (cross-region artifact stores and actions) check only what the
    declaration alone can tell.
    """
    pipeline = copy.deepcopy(dict(declaration))
    _fill_defaults(pipeline)
    stages: list[dict[str, Any]] = pipeline["stages"]
    _check_stage_counts(stages)
    _check_stage_shapes(stages)
    _check_source_placement(stages)
    _check_artifact_stores(pipeline, region)
    check_pipeline_features(pipeline)
    for stage in stages:
        check_stage(stage, pipeline["pipelineType"], pipeline["executionMode"])
    for owner, action in _actions(stages):
        check_action(owner["name"], action, lookup, pipeline["pipelineType"], region)
    _check_output_artifacts(stages)
    _check_input_artifacts(stages)
    _check_namespaces(stages)
    return pipeline


def _fill_defaults(pipeline: dict[str, Any]) -> None:
    # PipelineDeclaration: pipelineType is V1 unless given (CloudFormation's PipelineType and
    # cdk-preflight's probes agree); "The default mode is SUPERSEDED". "Pipeline structure
    # reference": "The default runOrder value for an action is 1". GetPipeline returns
    # inputArtifacts/outputArtifacts as [] (awscli get-pipeline example) and leaves out an
    # absent configuration (moto fills {}; AWS's JSON omits null members). `version` is the
    # caller's to set: 1 on create, previous + 1 on update.
    pipeline.setdefault("pipelineType", "V1")
    pipeline.setdefault("executionMode", "SUPERSEDED")
    for _stage, action in _actions(pipeline["stages"]):
        action.setdefault("runOrder", 1)
        action.setdefault("inputArtifacts", [])
        action.setdefault("outputArtifacts", [])


def _actions(stages: Sequence[Stage]) -> Iterator[tuple[Stage, Any]]:
    for stage in stages:
        for action in stage["actions"]:
            yield stage, action


def _check_stage_counts(stages: Sequence[Stage]) -> None:
    # "Pipeline and stage structure requirements": "A pipeline must contain at least two
    # stages". AWS (moto): "Pipeline has only 1 stage(s). There should be a minimum of 2
    # stages in a pipeline". AWS: "Pipeline has too many stages. There can only be up to 50
    # stages in a pipeline".
    if len(stages) < MIN_STAGES:
        raise InvalidStructureException(
            f"Pipeline has only {len(stages)} stage(s). There should be a minimum of "
            f"{MIN_STAGES} stages in a pipeline"
        )
    if len(stages) > MAX_STAGES:
        raise InvalidStructureException(
            "Pipeline has too many stages. There can only be up to "
            f"{MAX_STAGES} stages in a pipeline"
        )
    total = sum(len(stage["actions"]) for stage in stages)
    if total > MAX_ACTIONS_PER_PIPELINE:
        raise LimitExceededException(
            "Pipeline has too many actions. There can only be up to "
            f"{MAX_ACTIONS_PER_PIPELINE} actions in a pipeline"
        )


def _check_stage_shapes(stages: Sequence[Stage]) -> None:
    # "Quotas": 1..50 actions per stage; "Uniqueness of names": stage names unique in the
    # pipeline, action names unique in the stage. AWS: "Pipeline stage 'Assets' has too many
    # actions. There can only be up to 50 actions in a pipeline stage" and "Stage name 'X'
    # is used more than once" (both InvalidStageDeclarationException).
    seen: set[str] = set()
    for stage in stages:
        name = stage["name"]
        if name in seen:
            raise InvalidStageDeclarationException(f"Stage name '{name}' is used more than once")
        seen.add(name)
        count = len(stage["actions"])
        if count == 0:
            raise InvalidStageDeclarationException(
                f"Pipeline stage '{name}' has no actions. There should be a minimum of 1 "
                "action in a pipeline stage"
            )
        if count > MAX_ACTIONS_PER_STAGE:
            raise InvalidStageDeclarationException(
                f"Pipeline stage '{name}' has too many actions. There can only be up to "
                f"{MAX_ACTIONS_PER_STAGE} actions in a pipeline stage"
            )
        _check_action_names(stage)


def _check_action_names(stage: Stage) -> None:
    seen: set[str] = set()
    for action in stage["actions"]:
        if action["name"] in seen:
            raise InvalidStageDeclarationException(
                f"Action name '{action['name']}' is used more than once in stage '{stage['name']}'"
            )
        seen.add(action["name"])


def _check_source_placement(stages: Sequence[Stage]) -> None:
    # "Pipeline and stage structure requirements": the first stage holds source actions only;
    # only the first stage may hold them. AWS: "Pipeline should start with a stage that only
    # contains source actions" / "Source actions can only be included in the first stage of
    # the pipeline" (InvalidStructureException).
    for index, stage in enumerate(stages):
        for action in stage["actions"]:
            is_source = action["actionTypeId"]["category"] == "Source"
            where = locate(stage["name"], action["name"])
            if index == 0 and not is_source:
                raise InvalidStructureException(
                    f"Pipeline should start with a stage that only contains source actions. {where}"
                )
            if index > 0 and is_source:
                raise InvalidStructureException(
                    "Source actions can only be included in the first stage of the pipeline. "
                    f"{where}"
                )


def _check_artifact_stores(pipeline: Mapping[str, Any], region: str | None) -> None:
    # PipelineDeclaration: "You must include either artifactStore or artifactStores in your
    # pipeline, but you cannot use both. If you create a cross-region action in your
    # pipeline, you must use artifactStores."
    store = pipeline.get("artifactStore")
    stores = pipeline.get("artifactStores")
    if store is None and stores is None:
        raise InvalidStructureException(
            "Pipeline must declare an artifact store: include either 'artifactStore' or "
            "'artifactStores'"
        )
    if store is not None and stores is not None:
        raise InvalidStructureException(
            "Pipeline cannot declare both 'artifactStore' and 'artifactStores'. Use "
            "'artifactStores' for a pipeline with actions in more than one region"
        )
    regions = {a["region"] for _s, a in _actions(pipeline["stages"]) if "region" in a}
    regions |= {region} if region is not None else set()
    if stores is None:
        _check_single_store(regions)
    else:
        _check_store_map(stores, regions)


def _check_single_store(regions: set[str]) -> None:
    # AWS: "Your pipeline contains actions in more than one region. Use 'pipeline.
    # artifactStores' instead of 'pipeline.artifactStore' ..."
    if len(regions) > 1:
        raise InvalidStructureException(
            "Your pipeline contains actions in more than one region. Use "
            "'pipeline.artifactStores' instead of 'pipeline.artifactStore' to declare an "
            "artifact store, such as an artifact bucket, for each region where you have an "
            "action."
        )


def _check_store_map(stores: Mapping[str, Any], regions: set[str]) -> None:
    # "Pipeline and stage structure requirements": one artifact bucket per Region where an
    # action runs, the pipeline's Region included. AWS: "Your pipeline must have an artifact
    # store, such as an artifact bucket, for each region where you have an action. The
    # following region is missing in 'pipeline.artifactStores': us-west-2."
    if not stores:
        raise InvalidStructureException(
            "'pipeline.artifactStores' must declare an artifact store, such as an artifact "
            "bucket, for each region where you have an action"
        )
    missing = sorted(regions - set(stores))
    if missing:
        raise InvalidStructureException(
            "Your pipeline must have an artifact store, such as an artifact bucket, for each "
            "region where you have an action. The following region is missing in "
            f"'pipeline.artifactStores': {missing[0]}."
        )


def _check_output_artifacts(stages: Sequence[Stage]) -> None:
    # "Action structure requirements": "Output artifact names must be unique in a pipeline".
    # AWS (cfn-lint #1688): "Output Artifact Bundle name must be unique within the pipeline.
    # CreateOutput has been used more than once."
    seen: set[str] = set()
    for stage, action in _actions(stages):
        for artifact in action["outputArtifacts"]:
            name = artifact["name"]
            if name in seen:
                raise InvalidStructureException(
                    "Output Artifact Bundle name must be unique within the pipeline. "
                    f"{name} has been used more than once. {locate(stage['name'], action['name'])}"
                )
            seen.add(name)


def _check_input_artifacts(stages: Sequence[Stage]) -> None:
    # "Action structure requirements": an input artifact "must exactly match the output
    # artifact declared in a preceding action" - an earlier stage, or a lower runOrder in
    # the same stage (actions sharing a runOrder run in parallel, so cannot feed each other).
    available: set[str] = set()
    for stage in stages:
        by_order = sorted(stage["actions"], key=lambda a: a["runOrder"])
        for _order, group in groupby(by_order, key=lambda a: a["runOrder"]):
            batch = list(group)
            for action in batch:
                _check_inputs_available(stage["name"], action, available)
            available |= {o["name"] for a in batch for o in a["outputArtifacts"]}


def _check_inputs_available(stage: str, action: Action, available: set[str]) -> None:
    for artifact in action["inputArtifacts"]:
        if artifact["name"] not in available:
            raise InvalidStructureException(
                f"Input Artifact Bundle '{artifact['name']}' of action '{action['name']}' in "
                f"stage '{stage}' is not the output of a preceding action: it must be produced "
                "in an earlier stage or by an action with a lower runOrder in the same stage"
            )


def _check_namespaces(stages: Sequence[Stage]) -> None:
    # "Variables reference": "Namespaces must be unique across the pipeline definition and
    # cannot conflict with any artifact names"; `codepipeline` is reserved. AWS (aws-cdk
    # #16142, InvalidActionDeclarationException): "Namespaces must be unique across the
    # pipeline definition. The following occur more than once in the pipeline.
    # StageName=[x], ActionName=[x], Namespace=[x]"
    artifacts = {o["name"] for _s, a in _actions(stages) for o in a["outputArtifacts"]}
    seen: set[str] = set()
    for stage, action in _actions(stages):
        namespace = action.get("namespace")
        if namespace is None:
            continue
        where = f"{locate(stage['name'], action['name'])}, Namespace=[{namespace}]"
        if namespace in seen:
            raise InvalidActionDeclarationException(
                "Namespaces must be unique across the pipeline definition. The following "
                f"occur more than once in the pipeline. {where}"
            )
        if namespace in RESERVED_NAMESPACES or namespace in artifacts:
            raise InvalidActionDeclarationException(
                "Namespaces cannot be a reserved namespace or conflict with any artifact "
                f"names. {where}"
            )
        seen.add(namespace)
