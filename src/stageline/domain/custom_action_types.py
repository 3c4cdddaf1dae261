"""Action types users define: custom action types (CreateCustomActionType, owner Custom) and
integration-model types (an ActionTypeDeclaration, owner ThirdParty). Their rules, the two
shapes AWS shows them in, the ActionTypeSpec pipelines validate against, and the handling of
secret configuration values in pipeline definitions.

One stored form serves both: an ActionTypeDeclaration-shaped dict (description, executor, id,
artifact details, properties, urls, permissions) plus, for custom types, the `settings` and
`configurationProperties` exactly as CreateCustomActionType gave them (defaults filled), so
ListActionTypes shows what was created.

Sources (CodePipeline API Reference and User Guide):
  - "ActionConfigurationProperty": at most one queryable property, which must be required and
    not secret; a queryable value in a pipeline has at most 20 characters, alphanumeric,
    underscores and hyphens; secrets are hidden from every call but the job calls; passing
    "****" when updating a pipeline keeps the previous value;
  - "CreateCustomActionType": `{Config:name}` in the URL templates only for a property that is
    both required and not secret;
  - "DeleteCustomActionType": a deleted custom action comes back only with a definition
    identical to the deleted one; otherwise a new version string is needed;
  - "Working with action types": executor configuration matches the executor type; the Lambda
    model's job timeout is at most 15 minutes; noEcho values are redacted from GetPipeline;
  - "Quotas in AWS CodePipeline": 50 custom actions per Region.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from stageline.domain.action_type_model import (
    ActionTypeId,
    ActionTypeSpec,
    ArtifactBounds,
    ConfigurationProperty,
)
from stageline.domain.errors import InvalidActionDeclarationException, ValidationException
from stageline.domain.validation_actions import type_id_of

MAX_CUSTOM_ACTION_TYPES = 50
MAX_PROPERTIES = 10
MAX_LEGACY_ARTIFACTS = 5
MAX_DECLARED_ARTIFACTS = 10
LAMBDA_MAX_JOB_TIMEOUT = 900
# What GetPipeline shows instead of a secret value, and what UpdatePipeline takes to keep it.
MASK = "****"
_QUERYABLE_VALUE = re.compile(r"[A-Za-z0-9_-]{1,20}")
_CONFIG_REFERENCE = re.compile(r"\{Config:([^}]*)\}")
_SETTING_TO_URL = {
    "thirdPartyConfigurationUrl": "configurationUrl",
    "entityUrlTemplate": "entityUrlTemplate",
    "executionUrlTemplate": "executionUrlTemplate",
    "revisionUrlTemplate": "revisionUrlTemplate",
}
_URL_TO_SETTING = {url: setting for setting, url in _SETTING_TO_URL.items()}
_LEGACY_KEYS = ("settings", "configurationProperties")
LEGACY_DESCRIPTION_MAX = 160

SpecLookup = Callable[[ActionTypeId], ActionTypeSpec | None]


def type_label(type_id: ActionTypeId) -> str:
    return f"{type_id.category}/{type_id.owner}/{type_id.provider}/{type_id.version}"


# --- CreateCustomActionType ----------------------------------------------------------------


def custom_definition(params: Mapping[str, Any]) -> dict[str, Any]:
    """The definition CreateCustomActionType was given, defaults filled (queryable: false), in
    the form two creates are compared in (tags are not part of it)."""
    properties = []
    for given in params.get("configurationProperties") or []:
        prop = {
            "name": given["name"],
            "required": given["required"],
            "key": given["key"],
            "secret": given["secret"],
            "queryable": bool(given.get("queryable", False)),
        }
        for optional in ("description", "type"):
            if given.get(optional) is not None:
                prop[optional] = given[optional]
        properties.append(prop)
    return {
        "category": params["category"],
        "provider": params["provider"],
        "version": params["version"],
        "settings": {k: v for k, v in (params.get("settings") or {}).items() if v is not None},
        "configurationProperties": properties,
        "inputArtifactDetails": _counts(params["inputArtifactDetails"]),
        "outputArtifactDetails": _counts(params["outputArtifactDetails"]),
    }


def _counts(details: Mapping[str, Any]) -> dict[str, int]:
    return {"minimumCount": details["minimumCount"], "maximumCount": details["maximumCount"]}


def check_custom_definition(definition: Mapping[str, Any]) -> None:
    """AWS's rules for a custom action type beyond the shapes the router already checked."""
    if definition["category"] == "Compute":
        # Compute actions must carry `commands` (Commands action), which no job worker gets;
        # AWS's guide names build, deploy, test and invoke (the API also source, approval).
        raise ValidationException("Custom action types cannot use the Compute category.")
    properties = definition["configurationProperties"]
    _check_properties([(p["name"], p["required"], p["secret"], p["queryable"]) for p in properties])
    for side in ("inputArtifactDetails", "outputArtifactDetails"):
        _check_bounds(side, definition[side], MAX_LEGACY_ARTIFACTS)
    usable = {p["name"] for p in properties if p["required"] and not p["secret"]}
    for setting, template in definition["settings"].items():
        for name in _CONFIG_REFERENCE.findall(template):
            if name not in usable:
                raise ValidationException(
                    f"The {setting} refers to {{Config:{name}}}, but a URL template can only "
                    "refer to a configuration property that is both required and not secret."
                )


def _check_properties(properties: Sequence[tuple[str, bool, bool, bool]]) -> None:
    """(name, required, secret, queryable) of each property."""
    if len(properties) > MAX_PROPERTIES:
        raise ValidationException(
            f"An action type can have at most {MAX_PROPERTIES} configuration properties; "
            f"{len(properties)} were given."
        )
    names = [given[0] for given in properties]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValidationException(f"The configuration property {twice[0]} is declared twice.")
    queryable = [(n, r, s) for n, r, s, q in properties if q]
    if len(queryable) > 1:
        listed = ", ".join(n for n, _, _ in queryable)
        raise ValidationException(
            f"An action type can have at most one queryable property; {listed} are queryable."
        )
    for name, required, secret in queryable:
        if not required or secret:
            raise ValidationException(
                f"The queryable property {name} must be both required and not secret."
            )


def _check_bounds(side: str, details: Mapping[str, int], maximum: int) -> None:
    low, high = details["minimumCount"], details["maximumCount"]
    if not 0 <= low <= maximum or not 0 <= high <= maximum:
        raise ValidationException(
            f"The {side} counts must be between 0 and {maximum}; got {low} and {high}."
        )
    if low > high:
        raise ValidationException(
            f"The {side} minimumCount ({low}) is greater than its maximumCount ({high})."
        )


def custom_declaration(definition: Mapping[str, Any], account_id: str) -> dict[str, Any]:
    """The stored form of a custom action type: its ActionTypeDeclaration view (a job worker in
    this account polls for its jobs) plus the definition as given."""
    declaration: dict[str, Any] = {
        "executor": {
            "type": "JobWorker",
            "configuration": {"jobWorkerExecutorConfiguration": {"pollingAccounts": [account_id]}},
        },
        "id": {
            "category": definition["category"],
            "owner": "Custom",
            "provider": definition["provider"],
            "version": definition["version"],
        },
        "inputArtifactDetails": dict(definition["inputArtifactDetails"]),
        "outputArtifactDetails": dict(definition["outputArtifactDetails"]),
        "properties": [
            _without_none(
                {
                    "name": p["name"],
                    "optional": not p["required"],
                    "key": p["key"],
                    "noEcho": p["secret"],
                    "queryable": p["queryable"],
                    "description": p.get("description"),
                }
            )
            for p in definition["configurationProperties"]
        ],
        "settings": copy.deepcopy(definition["settings"]),
        "configurationProperties": copy.deepcopy(definition["configurationProperties"]),
    }
    urls = {_SETTING_TO_URL[k]: v for k, v in definition["settings"].items()}
    if urls:
        declaration["urls"] = urls
    return declaration


def stored_definition(stored: Mapping[str, Any]) -> dict[str, Any]:
    """The CreateCustomActionType definition a stored custom type was made from."""
    return {
        "category": stored["id"]["category"],
        "provider": stored["id"]["provider"],
        "version": stored["id"]["version"],
        "settings": stored.get("settings") or {},
        "configurationProperties": stored.get("configurationProperties") or [],
        "inputArtifactDetails": stored["inputArtifactDetails"],
        "outputArtifactDetails": stored["outputArtifactDetails"],
    }


# --- ActionTypeDeclaration (UpdateActionType) ------------------------------------------------


def check_declaration(declaration: Mapping[str, Any]) -> None:
    """AWS's rules for an action type definition file beyond the model's shapes."""
    executor = declaration["executor"]
    kind = executor["type"]
    configuration = executor.get("configuration") or {}
    wanted = "lambdaExecutorConfiguration" if kind == "Lambda" else "jobWorkerExecutorConfiguration"
    other = "jobWorkerExecutorConfiguration" if kind == "Lambda" else "lambdaExecutorConfiguration"
    if other in configuration:
        raise ValidationException(
            f"An executor of type {kind} takes {wanted}, not {other}: provide only the "
            "configuration of the executor type."
        )
    if kind == "Lambda" and wanted not in configuration:
        raise ValidationException("An executor of type Lambda needs lambdaExecutorConfiguration.")
    if kind == "Lambda" and (timeout := executor.get("jobTimeout") or 0) > LAMBDA_MAX_JOB_TIMEOUT:
        raise ValidationException(
            f"The jobTimeout of a Lambda executor is at most {LAMBDA_MAX_JOB_TIMEOUT} seconds "
            f"(15 minutes); got {timeout}."
        )
    _check_properties(
        [
            (p["name"], not p["optional"], p["noEcho"], bool(p.get("queryable", False)))
            for p in declaration.get("properties") or []
        ]
    )
    for side in ("inputArtifactDetails", "outputArtifactDetails"):
        _check_bounds(side, declaration[side], MAX_DECLARED_ARTIFACTS)


def normalized_declaration(given: Mapping[str, Any]) -> dict[str, Any]:
    """An UpdateActionType definition in stored form (None members dropped, queryable filled)."""
    declaration = _without_none(copy.deepcopy(dict(given)))
    declaration["properties"] = [
        {**_without_none(p), "queryable": bool(p.get("queryable", False))}
        for p in declaration.get("properties") or []
    ]
    declaration["inputArtifactDetails"] = _counts(declaration["inputArtifactDetails"])
    declaration["outputArtifactDetails"] = _counts(declaration["outputArtifactDetails"])
    return declaration


def _without_none(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v is not None}


# --- Views and specs -------------------------------------------------------------------------


def declaration_view(stored: Mapping[str, Any]) -> dict[str, Any]:
    """GetActionType's ActionTypeDeclaration."""
    return {k: copy.deepcopy(v) for k, v in stored.items() if k not in _LEGACY_KEYS}


def action_type_view(stored: Mapping[str, Any]) -> dict[str, Any]:
    """ListActionTypes' (and CreateCustomActionType's) ActionType. A custom type shows its
    definition as created; an integration-model type is converted (optional → required,
    noEcho → secret, urls → settings), within the older shape's limits."""
    if "configurationProperties" in stored:
        properties = copy.deepcopy(stored["configurationProperties"])
        settings = copy.deepcopy(stored.get("settings") or {})
    else:
        properties = [_legacy_property(p) for p in stored.get("properties") or []]
        settings = {_URL_TO_SETTING[k]: v for k, v in (stored.get("urls") or {}).items()}
    view: dict[str, Any] = {
        "id": dict(stored["id"]),
        "actionConfigurationProperties": properties,
        "inputArtifactDetails": _capped(stored["inputArtifactDetails"]),
        "outputArtifactDetails": _capped(stored["outputArtifactDetails"]),
    }
    if settings:
        view["settings"] = settings
    return view


def _legacy_property(prop: Mapping[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {
        "name": prop["name"],
        "required": not prop["optional"],
        "key": prop["key"],
        "secret": prop["noEcho"],
        "queryable": bool(prop.get("queryable", False)),
    }
    if prop.get("description"):
        result["description"] = prop["description"][:LEGACY_DESCRIPTION_MAX]
    return result


def _capped(details: Mapping[str, int]) -> dict[str, int]:
    return {k: min(details[k], MAX_LEGACY_ARTIFACTS) for k in ("minimumCount", "maximumCount")}


def spec_of(stored: Mapping[str, Any]) -> ActionTypeSpec:
    """The ActionTypeSpec pipelines validate a stored type's actions against."""
    types = {p["name"]: p.get("type", "String") for p in stored.get("configurationProperties", [])}
    identity = stored["id"]
    return ActionTypeSpec(
        id=ActionTypeId(**{k: identity[k] for k in ("category", "owner", "provider", "version")}),
        configuration_properties=tuple(
            ConfigurationProperty(
                name=p["name"],
                required=not p["optional"],
                key=p["key"],
                secret=p["noEcho"],
                queryable=bool(p.get("queryable", False)),
                description=p.get("description", ""),
                type=types.get(p["name"], "String"),
            )
            for p in stored.get("properties") or []
        ),
        input_artifacts=ArtifactBounds(*_counts(stored["inputArtifactDetails"]).values()),
        output_artifacts=ArtifactBounds(*_counts(stored["outputArtifactDetails"]).values()),
        description=stored.get("description", ""),
        settings={_URL_TO_SETTING[k]: v for k, v in (stored.get("urls") or {}).items()} or None,
    )


# --- Secret and queryable values in pipeline definitions ------------------------------------


def _actions(pipeline: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for stage in pipeline.get("stages") or []:
        for action in stage.get("actions") or []:
            yield stage["name"], action


def _secret_names(spec: ActionTypeSpec | None) -> set[str]:
    return {p.name for p in spec.configuration_properties if p.secret} if spec else set()


def mask_secrets(pipeline: dict[str, Any], lookup: SpecLookup) -> dict[str, Any]:
    """`pipeline` (changed in place) with every secret configuration value shown as "****"."""
    for _stage, action in _actions(pipeline):
        configuration = action.get("configuration")
        if not configuration:
            continue
        for name in _secret_names(lookup(type_id_of(action))) & set(configuration):
            configuration[name] = MASK
    return pipeline


def mask_configuration(
    configuration: Mapping[str, str], spec: ActionTypeSpec | None
) -> dict[str, str]:
    """One action's configuration with its secret values masked (for views of executions)."""
    secrets = _secret_names(spec)
    return {k: MASK if k in secrets else v for k, v in configuration.items()}


def unmask_secrets(
    pipeline: dict[str, Any], previous: Mapping[str, Any] | None, lookup: SpecLookup
) -> None:
    """Put back the previous value of every secret given as "****" (UpdatePipeline), refusing
    the mask where there is none to keep: a new pipeline, a new action, or a type change."""
    before = {
        (stage, action["name"]): action for stage, action in _actions(previous or {"stages": []})
    }
    for stage, action in _actions(pipeline):
        configuration = action.get("configuration") or {}
        masked = [
            k for k in _secret_names(lookup(type_id_of(action))) if configuration.get(k) == MASK
        ]
        old = before.get((stage, action["name"]))
        same_type = old is not None and type_id_of(old) == type_id_of(action)
        for name in sorted(masked):
            kept = (old.get("configuration") or {}).get(name) if old and same_type else None
            if kept is None:
                raise InvalidActionDeclarationException(
                    f'Action configuration for the new action "{action["name"]}" contains an '
                    f'invalid configuration for the secret property "{name}". "{MASK}" may be '
                    "used in secret properties only when updating an existing action."
                )
            configuration[name] = kept


def check_queryable_values(pipeline: Mapping[str, Any], lookup: SpecLookup) -> None:
    """A queryable property's value: at most 20 characters, alphanumeric, '_' and '-'."""
    for stage, action in _actions(pipeline):
        spec = lookup(type_id_of(action))
        configuration = action.get("configuration") or {}
        for prop in spec.configuration_properties if spec else ():
            value = configuration.get(prop.name)
            if prop.queryable and value is not None and not _QUERYABLE_VALUE.fullmatch(value):
                raise InvalidActionDeclarationException(
                    f"Action configuration for action '{action['name']}' has an invalid value "
                    f"for the queryable property '{prop.name}': it must be 1 to 20 characters, "
                    f"letters, digits, underscores and hyphens. StageName=[{stage}], "
                    f"ActionName=[{action['name']}]"
                )
