"""Action types a pipeline may use, shaped for ListActionTypes and GetActionType."""

from __future__ import annotations

from typing import Any

from stageline.domain.action_types import (
    BUILTIN_ACTION_TYPES,
    ActionTypeId,
    ActionTypeSpec,
    find_builtin,
)
from stageline.domain.errors import ActionTypeNotFoundException
from stageline.services.pagination import decode_token, encode_token

PAGE_SIZE = 100


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
            for p in spec.configuration_properties
        ],
        "inputArtifactDetails": {
            "minimumCount": spec.input_artifacts.minimum,
            "maximumCount": spec.input_artifacts.maximum,
        },
        "outputArtifactDetails": {
            "minimumCount": spec.output_artifacts.minimum,
            "maximumCount": spec.output_artifacts.maximum,
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
            for p in spec.configuration_properties
        ],
    }


class ActionTypeService:
    def list(
        self, owner: str | None = None, next_token: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        position = decode_token("action-types", next_token)
        start = int(position.get("offset", 0)) if position else 0
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
