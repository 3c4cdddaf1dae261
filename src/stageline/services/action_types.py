"""Action types a pipeline may use, shaped for ListActionTypes and GetActionType: the built-in
catalogue, then the custom and registered types stored in the database."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from stageline.domain.action_types import (
    BUILTIN_ACTION_TYPES,
    ActionTypeId,
    ActionTypeSpec,
    ConfigurationProperty,
    find_builtin,
)
from stageline.domain.arns import Arns
from stageline.domain.errors import ActionTypeNotFoundException, InvalidNextTokenException
from stageline.services.custom_action_types import CustomActionTypes
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
    """The built-in catalogue and the stored (custom and registered) types, together."""

    def __init__(self, session: Session, arns: Arns, *, page_size: int = PAGE_SIZE) -> None:
        self.stored = CustomActionTypes(session, arns)
        self.region = arns.region
        self.page_size = page_size

    def list(
        self,
        owner: str | None = None,
        next_token: str | None = None,
        region: str | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Built-in types in catalogue order, then live stored types oldest first. A token
        holds the position after its page's last type: {"offset": n} in the catalogue or
        {"after": pk} among stored types, so types created or deleted between pages neither
        repeat nor skip others. Stored types live in this Region only: a regionFilter naming
        another Region lists the catalogue alone."""
        offset, after = _position(next_token)
        size = self.page_size
        page: list[tuple[dict[str, int], dict[str, Any]]] = []
        if after is None:
            specs = [s for s in BUILTIN_ACTION_TYPES if owner is None or s.id.owner == owner]
            for index in range(offset, min(len(specs), offset + size + 1)):
                page.append(({"offset": index + 1}, _as_action_type(specs[index])))
        if len(page) <= size and region in (None, self.region):
            stored = self.stored.listed(owner, after or 0, size + 1 - len(page))
            page += [({"after": pk}, view) for pk, view in stored]
        token = encode_token("action-types", page[size - 1][0]) if len(page) > size else None
        return [view for _, view in page[:size]], token

    def get(self, category: str, owner: str, provider: str, version: str) -> dict[str, Any]:
        type_id = ActionTypeId(category, owner, provider, version)
        spec = find_builtin(type_id)
        if spec is not None:
            return _as_declaration(spec)
        declaration = self.stored.declaration(type_id)
        if declaration is None:
            raise ActionTypeNotFoundException(
                f"Action type {category}/{owner}/{provider}/{version} does not exist."
            )
        return declaration

    def update(self, declaration: dict[str, Any]) -> None:
        self.stored.update(declaration)


def _position(next_token: str | None) -> tuple[int, int | None]:
    """(catalogue offset, stored position) a token names. Tokens are only base64 JSON: a forged
    position must not crash nor skip silently."""
    position = decode_token("action-types", next_token) or {}
    offset, after = position.get("offset", 0), position.get("after")
    if set(position) - {"offset", "after"} or not _index(offset):
        raise InvalidNextTokenException("The next token is not valid.")
    if after is not None and not _index(after):
        raise InvalidNextTokenException("The next token is not valid.")
    return offset, after


def _index(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
