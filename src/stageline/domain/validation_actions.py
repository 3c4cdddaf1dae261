"""Rules for one ActionDeclaration, checked against its action type.

Message texts marked "AWS" are the service's own, as quoted in public bug reports; the others
follow the same wording style. Where AWS's text does not say where the fault is, the detail is
appended in AWS's own "StageName=[...], ActionName=[...]" form (used by its namespace error).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from stageline.domain.action_types import ActionTypeId, ActionTypeSpec, ArtifactBounds
from stageline.domain.errors import InvalidActionDeclarationException

ActionTypeLookup = Callable[[ActionTypeId], ActionTypeSpec | None]

COMPUTE_CATEGORY = "Compute"


def locate(stage: str, action: str | None = None) -> str:
    """AWS's detail suffix naming where a rule was broken."""
    if action is None:
        return f"StageName=[{stage}]"
    return f"StageName=[{stage}], ActionName=[{action}]"


def type_id_of(action: Mapping[str, Any]) -> ActionTypeId:
    t = action["actionTypeId"]
    return ActionTypeId(t["category"], t["owner"], t["provider"], t["version"])


def check_action(
    stage: str,
    action: Mapping[str, Any],
    lookup: ActionTypeLookup,
    pipeline_type: str,
    region: str | None,
) -> None:
    """Every action rule, in the order a reader meets the fields."""
    spec = _resolve_type(action, lookup)
    _check_pipeline_type(stage, action, spec, pipeline_type)
    _check_compute_fields(action, spec)
    _check_artifact_counts(action, spec)
    _check_configuration(action, spec)
    _check_region(stage, action, region)


def _resolve_type(action: Mapping[str, Any], lookup: ActionTypeLookup) -> ActionTypeSpec:
    # AWS: "ActionType (Category: 'Build', Provider: 'Jenkins', Owner: 'ThirdParty',
    # Version: '1') in action 'Build' is not available" (terraform #19696, InvalidActionDecl.)
    type_id = type_id_of(action)
    spec = lookup(type_id)
    if spec is None:
        raise InvalidActionDeclarationException(
            f"ActionType (Category: '{type_id.category}', Provider: '{type_id.provider}', "
            f"Owner: '{type_id.owner}', Version: '{type_id.version}') in action "
            f"'{action['name']}' is not available"
        )
    return spec


def _check_pipeline_type(
    stage: str, action: Mapping[str, Any], spec: ActionTypeSpec, pipeline_type: str
) -> None:
    # "Commands action reference", "EC2/EKS/ECRBuildAndPublish ... reference": "only available
    # for V2 type pipelines". AWS: "Commands Action can only be used with V2 pipelines."
    if pipeline_type in spec.pipeline_types:
        return
    allowed = " or ".join(sorted(spec.pipeline_types))
    raise InvalidActionDeclarationException(
        f"{spec.id.provider} Action can only be used with {allowed} pipelines. "
        f"{locate(stage, action['name'])}"
    )


def _check_compute_fields(action: Mapping[str, Any], spec: ActionTypeSpec) -> None:
    # ActionDeclaration.commands/outputVariables and OutputArtifact.files belong to compute
    # actions ("Commands action reference"). AWS (aws-cdk #38843, also for `files`): "The
    # following action cannot contain a commands field: X. To use the commands field, use a
    # compute action." AWS (terraform #42997): "Action X must have a non-empty commands field".
    name = action["name"]
    is_compute = spec.id.category == COMPUTE_CATEGORY
    has_files = any("files" in artifact for artifact in action.get("outputArtifacts", []))
    if not is_compute and ("commands" in action or has_files):
        raise InvalidActionDeclarationException(
            f"The following action cannot contain a commands field: {name}. "
            "To use the commands field, use a compute action."
        )
    if not is_compute and "outputVariables" in action:
        raise InvalidActionDeclarationException(
            f"The following action cannot contain an outputVariables field: {name}. "
            "To use the outputVariables field, use a compute action."
        )
    if is_compute and not action.get("commands"):
        raise InvalidActionDeclarationException(
            f"Action {name} must have a non-empty commands field"
        )


def _check_artifact_counts(action: Mapping[str, Any], spec: ActionTypeSpec) -> None:
    # "Valid input and output artifacts for each action type". AWS (aws-cloudformation-user-
    # guide PR #941): "Action X declares 0 input artifacts which is less than the minimum
    # count (1)"; the upper-bound text mirrors it.
    _check_count(action["name"], "input", len(action["inputArtifacts"]), spec.input_artifacts)
    _check_count(action["name"], "output", len(action["outputArtifacts"]), spec.output_artifacts)


def _check_count(name: str, kind: str, count: int, bounds: ArtifactBounds) -> None:
    if count < bounds.minimum:
        raise InvalidActionDeclarationException(
            f"Action {name} declares {count} {kind} artifacts which is less than the "
            f"minimum count ({bounds.minimum})"
        )
    if count > bounds.maximum:
        raise InvalidActionDeclarationException(
            f"Action {name} declares {count} {kind} artifacts which is more than the "
            f"maximum count ({bounds.maximum})"
        )


def _check_configuration(action: Mapping[str, Any], spec: ActionTypeSpec) -> None:
    # "Action structure reference": each provider's keys. AWS: "Action configuration for
    # action 'Source' is missing required configuration 'OAuthToken'". Unknown keys are
    # refused with the same prefix. Secret keys are ordinary keys here: masking is the
    # read side's job.
    name = action["name"]
    given = action.get("configuration") or {}
    known = {prop.name for prop in spec.configuration_properties}
    for prop in spec.configuration_properties:
        if prop.required and prop.name not in given:
            raise InvalidActionDeclarationException(
                f"Action configuration for action '{name}' is missing required "
                f"configuration '{prop.name}'"
            )
    unknown = sorted(set(given) - known)
    if unknown:
        raise InvalidActionDeclarationException(
            f"Action configuration for action '{name}' contains unknown configuration "
            f"'{unknown[0]}'"
        )


def _check_region(stage: str, action: Mapping[str, Any], region: str | None) -> None:
    # "Action structure requirements": no cross-Region source actions, nor actions by
    # ThirdParty or Custom providers. Only checkable when the pipeline's region is known.
    action_region = action.get("region")
    if region is None or action_region is None or action_region == region:
        return
    type_id = type_id_of(action)
    if type_id.category == "Source" or type_id.owner != "AWS":
        raise InvalidActionDeclarationException(
            f"Action '{action['name']}' cannot run in region '{action_region}': source "
            "actions and actions by ThirdParty or Custom providers cannot be cross-region "
            f"actions. {locate(stage, action['name'])}"
        )
