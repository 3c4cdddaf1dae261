"""Action types a pipeline may use, shaped for ListActionTypes and GetActionType."""

from __future__ import annotations

from typing import Any

from stageline.domain.action_types import (
    BUILTIN_ACTION_TYPES,
    ActionTypeId,
    ActionTypeSpec,
    ConfigurationProperty,
    find_builtin,
)
from stageline.domain.errors import ActionTypeNotFoundException, InvalidNextTokenException
from stageline.services.pagination import decode_token, encode_token

PAGE_SIZE = 100
# botocore's model caps what an ActionType (ListActionTypes) or an ActionTypeDeclaration
# (GetActionType) may carry: at most 10 configuration properties, and ListActionTypes'
# ArtifactDetails counts at 5. Some built-in types know more (DeviceFarm has 22 keys,
# CloudFormation takes 10 inputs); the wire shows required keys first, then as many optional
# ones as fit, and caps the counts, while validation still uses the full spec.
MAX_PROPERTIES = 10
MAX_LISTED_ARTIFACTS = 5


def _shown_properties(spec: ActionTypeSpec) -> list[ConfigurationProperty]:
    ordered = sorted(spec.configuration_properties, key=lambda p: not p.required)
    return ordered[:MAX_PROPERTIES]


def _id(type_id: ActionTypeId) -> dict[str, str]:
    return {
        "category": type_id.category,
        "owner": type_id.owner,
        "provider": type_id.provider,
        "version": type_id.version,
    }


def _as_action_type(spec: ActionTypeSpec) -> dict[str, Any]:
    """The ActionType shape of ListActionTypes."""
    result: dict[str, Any] = {
        "id": _id(spec.id),
        "actionConfigurationProperties": [
            {
                "name": p.name,
                "required": p.required,
                "key": p.key,
                "secret": p.secret,
                "queryable": p.queryable,
                "description": p.description or None,
                "type": p.type,
            }
            for p in _shown_properties(spec)
        ],
        "inputArtifactDetails": {
            "minimumCount": min(spec.input_artifacts.minimum, MAX_LISTED_ARTIFACTS),
            "maximumCount": min(spec.input_artifacts.maximum, MAX_LISTED_ARTIFACTS),
        },
        "outputArtifactDetails": {
            "minimumCount": min(spec.output_artifacts.minimum, MAX_LISTED_ARTIFACTS),
            "maximumCount": min(spec.output_artifacts.maximum, MAX_LISTED_ARTIFACTS),
        },
    }
    if spec.settings:
        result["settings"] = dict(spec.settings)
    return result


def _as_declaration(spec: ActionTypeSpec) -> dict[str, Any]:
    """The ActionTypeDeclaration shape of GetActionType. Built-in types are run by
    Stageline's own workers, which is what AWS calls a job worker executor."""
    return {
        "description": spec.description or None,
        "executor": {"type": "JobWorker", "configuration": {"jobWorkerExecutorConfiguration": {}}},
        "id": _id(spec.id),
        "inputArtifactDetails": {
            "minimumCount": spec.input_artifacts.minimum,
            "maximumCount": spec.input_artifacts.maximum,
        },
        "outputArtifactDetails": {
            "minimumCount": spec.output_artifacts.minimum,
            "maximumCount": spec.output_artifacts.maximum,
        },
        "properties": [
            {
                "name": p.name,
                "optional": not p.required,
                "key": p.key,
                "noEcho": p.secret,
                "queryable": p.queryable,
                "description": p.description or None,
            }
            for p in _shown_properties(spec)
        ],
    }


class ActionTypeService:
    def list(
        self, owner: str | None = None, next_token: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        position = decode_token("action-types", next_token)
        start = position.get("offset", 0) if position else 0
        # Tokens are only base64 JSON: a forged offset must not crash nor skip silently.
        if not isinstance(start, int) or isinstance(start, bool) or start < 0:
            raise InvalidNextTokenException("The next token is not valid.")
        specs = [s for s in BUILTIN_ACTION_TYPES if owner is None or s.id.owner == owner]
        page = specs[start : start + PAGE_SIZE]
        more = start + PAGE_SIZE < len(specs)
        token = encode_token("action-types", {"offset": start + PAGE_SIZE}) if more else None
        return [_as_action_type(s) for s in page], token

    def get(self, category: str, owner: str, provider: str, version: str) -> dict[str, Any]:
        spec = find_builtin(ActionTypeId(category, owner, provider, version))
        if spec is None:
            raise ActionTypeNotFoundException(
                f"Action type {category}/{owner}/{provider}/{version} does not exist."
            )
        return _as_declaration(spec)
