"""Stored action types: custom ones (CreateCustomActionType / DeleteCustomActionType, owner
Custom) and integration-model ones (owner ThirdParty: registered by the operator, then read and
updated with GetActionType / UpdateActionType). Plus the lookups that let pipelines, views and
the job protocol see them beside the built-in catalogue.

Every method runs inside the caller's unit of work and never commits. A deleted custom type
keeps its row (deleted_at): AWS never lets its category/provider/version come back with a
different definition, and pipelines created before keep showing its secrets masked.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from stageline.domain.action_types import ActionTypeId, ActionTypeSpec, find_builtin
from stageline.domain.arns import Arns
from stageline.domain.custom_action_types import (
    MAX_CUSTOM_ACTION_TYPES,
    action_type_view,
    check_custom_definition,
    check_declaration,
    custom_declaration,
    custom_definition,
    declaration_view,
    normalized_declaration,
    spec_of,
    stored_definition,
    type_label,
)
from stageline.domain.errors import (
    ActionTypeNotFoundException,
    ConcurrentModificationException,
    LimitExceededException,
    ValidationException,
)
from stageline.persistence.models import CustomActionType
from stageline.services.tags import TagService, check_tags

Clock = Callable[[], datetime]
CUSTOM = "Custom"
# Owners an operator may register integration-model types under (AWS is the catalogue's).
REGISTERED_OWNERS = frozenset({"ThirdParty"})


def utcnow() -> datetime:
    return datetime.now(UTC)


class CustomType(NamedTuple):
    """A stored action type as the job protocol needs it: `spec, declaration = found`."""

    spec: ActionTypeSpec
    declaration: dict[str, Any]  # ActionTypeDeclaration-shaped (executor, properties, urls…)

    @property
    def queryable_property(self) -> str | None:
        return next((p.name for p in self.spec.configuration_properties if p.queryable), None)

    @property
    def secret_properties(self) -> frozenset[str]:
        return frozenset(p.name for p in self.spec.configuration_properties if p.secret)

    @property
    def executor_type(self) -> str:
        return str(self.declaration["executor"]["type"])

    @property
    def job_timeout(self) -> int | None:
        """executor.jobTimeout in seconds; None when the type sets none (custom action types
        never do: AWS's quota for custom actions then applies)."""
        timeout = self.declaration["executor"].get("jobTimeout")
        return int(timeout) if timeout is not None else None


def _id_filter(type_id: ActionTypeId) -> Any:
    return (
        (CustomActionType.category == type_id.category)
        & (CustomActionType.owner == type_id.owner)
        & (CustomActionType.provider == type_id.provider)
        & (CustomActionType.version == type_id.version)
    )


def _row(
    session: Session, type_id: ActionTypeId, *, include_deleted: bool = False, lock: bool = False
) -> CustomActionType | None:
    query = select(CustomActionType).where(_id_filter(type_id))
    if not include_deleted:
        query = query.where(CustomActionType.deleted_at.is_(None))
    return session.scalar(query.with_for_update() if lock else query)


def custom_type(
    session: Session, type_id: ActionTypeId, *, include_deleted: bool = False
) -> CustomType | None:
    """The stored (custom or registered) type with this id, or None — built-in types and
    unknown ids alike. A deleted custom type counts only with include_deleted."""
    row = _row(session, type_id, include_deleted=include_deleted)
    if row is None:
        return None
    return CustomType(spec_of(row.declaration), declaration_view(row.declaration))


class ActionTypeCatalog:
    """Specs by id, built-in first, then stored types; each id read at most once per unit of
    work. `live` is what new pipeline versions may use; `known` also has deleted custom types
    (their secret flags still mask older pipelines' values)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._live: dict[ActionTypeId, ActionTypeSpec | None] = {}
        self._known: dict[ActionTypeId, ActionTypeSpec | None] = {}

    def _read(self, type_id: ActionTypeId, include_deleted: bool) -> ActionTypeSpec | None:
        builtin = find_builtin(type_id)
        if builtin is not None or type_id.owner == "AWS":
            return builtin
        row = _row(self.session, type_id, include_deleted=include_deleted)
        return spec_of(row.declaration) if row is not None else None

    def live(self, type_id: ActionTypeId) -> ActionTypeSpec | None:
        if type_id not in self._live:
            self._live[type_id] = self._read(type_id, include_deleted=False)
        return self._live[type_id]

    def known(self, type_id: ActionTypeId) -> ActionTypeSpec | None:
        if type_id not in self._known:
            self._known[type_id] = self._read(type_id, include_deleted=True)
        return self._known[type_id]


class CustomActionTypes:
    def __init__(self, session: Session, arns: Arns, *, clock: Clock = utcnow) -> None:
        self.session = session
        self.arns = arns
        self.clock = clock
        self.tags = TagService(session)

    def arn(self, type_id: ActionTypeId) -> str:
        return self.arns.action_type(type_id)

    # --- CreateCustomActionType / DeleteCustomActionType ---------------------------------

    def create(self, params: Mapping[str, Any]) -> tuple[dict[str, Any], list[dict[str, str]]]:
        """The ActionType view and the type's tags. Creating a type exactly as it already is
        succeeds (and restores it if it was deleted, as AWS documents); any other definition
        under a version string already used is a ValidationException."""
        definition = custom_definition(params)
        check_custom_definition(definition)
        tags: Sequence[dict[str, Any]] = params.get("tags") or []
        check_tags(tags)
        type_id = ActionTypeId(
            definition["category"], CUSTOM, definition["provider"], definition["version"]
        )
        now = self.clock()
        row = _row(self.session, type_id, include_deleted=True, lock=True)
        if row is None:
            self._check_quota()
            row = CustomActionType(
                category=type_id.category,
                owner=CUSTOM,
                provider=type_id.provider,
                version=type_id.version,
                declaration=custom_declaration(definition, self.arns.account_id),
                tags=[],
                created_at=now,
                updated_at=now,
            )
            try:
                # A savepoint, so a concurrent create of the same type fails cleanly here.
                with self.session.begin_nested():
                    self.session.add(row)
            except IntegrityError:
                raise ConcurrentModificationException(
                    f"The custom action type {type_label(type_id)} is being created by another "
                    "request; retry."
                ) from None
        elif stored_definition(row.declaration) != definition:
            raise ValidationException(_redefinition_message(type_id, row.deleted_at is not None))
        elif row.deleted_at is not None:
            self._check_quota()
            row.deleted_at = None
            row.updated_at = now
        if tags:
            self.tags.tag(self.arn(type_id), tags)
        self.session.flush()
        current, _ = self.tags.list(self.arn(type_id))
        return action_type_view(row.declaration), current

    def _check_quota(self) -> None:
        live = self.session.scalar(
            select(func.count())
            .select_from(CustomActionType)
            .where(CustomActionType.owner == CUSTOM, CustomActionType.deleted_at.is_(None))
        )
        if (live or 0) >= MAX_CUSTOM_ACTION_TYPES:
            raise LimitExceededException(
                f"An account can have at most {MAX_CUSTOM_ACTION_TYPES} custom action types in "
                "a Region. Delete one you no longer use."
            )

    def delete(self, category: str, provider: str, version: str) -> None:
        """Marks the type deleted and removes its tags. Deleting a type that does not exist,
        or no longer does, succeeds."""
        type_id = ActionTypeId(category, CUSTOM, provider, version)
        row = _row(self.session, type_id, lock=True)
        if row is None:
            return
        row.deleted_at = self.clock()
        row.updated_at = row.deleted_at
        self.tags.delete_all(self.arn(type_id))
        self.session.flush()

    def exists(self, type_id: ActionTypeId, *, lock: bool = False) -> bool:
        """A live stored type (what TagResource may tag); lock holds its row until commit."""
        return _row(self.session, type_id, lock=lock) is not None

    # --- Integration-model types: register (operator), GetActionType, UpdateActionType ------

    def register(self, declaration: Mapping[str, Any]) -> dict[str, Any]:
        """Adds an integration-model action type (the step AWS's service team does on request,
        see "Working with action types"); it is then read and updated over the API."""
        stored = normalized_declaration(declaration)
        type_id = _declared_id(stored)
        if type_id.owner not in REGISTERED_OWNERS:
            raise ValidationException(
                f"Only {', '.join(sorted(REGISTERED_OWNERS))} action types can be registered; "
                "custom action types are made with CreateCustomActionType."
            )
        if find_builtin(type_id) is not None or _row(self.session, type_id, include_deleted=True):
            raise ValidationException(f"Action type {type_label(type_id)} already exists.")
        check_declaration(stored)
        now = self.clock()
        self.session.add(
            CustomActionType(
                category=type_id.category,
                owner=type_id.owner,
                provider=type_id.provider,
                version=type_id.version,
                declaration=stored,
                tags=[],
                created_at=now,
                updated_at=now,
            )
        )
        self.session.flush()
        return declaration_view(stored)

    def declaration(self, type_id: ActionTypeId) -> dict[str, Any] | None:
        """GetActionType's view of a live stored type."""
        row = _row(self.session, type_id)
        return declaration_view(row.declaration) if row is not None else None

    def update(self, declaration: Mapping[str, Any]) -> None:
        """UpdateActionType: replaces the whole definition of a registered type."""
        stored = normalized_declaration(declaration)
        type_id = _declared_id(stored)
        if find_builtin(type_id) is not None:
            raise ValidationException(
                f"Action type {type_label(type_id)} is built into Stageline and cannot be updated."
            )
        row = _row(self.session, type_id, lock=True)
        if row is None or row.owner == CUSTOM:
            raise ActionTypeNotFoundException(f"Action type {type_label(type_id)} does not exist.")
        check_declaration(stored)
        row.declaration = stored
        row.updated_at = self.clock()
        self.session.flush()

    def listed(self, owner: str | None, after: int, limit: int) -> list[tuple[int, dict[str, Any]]]:
        """Live stored types after position `after`, oldest first: (position, ActionType)."""
        query = select(CustomActionType).where(
            CustomActionType.deleted_at.is_(None), CustomActionType.pk > after
        )
        if owner is not None:
            query = query.where(CustomActionType.owner == owner)
        rows = self.session.scalars(query.order_by(CustomActionType.pk).limit(limit))
        return [(row.pk, action_type_view(row.declaration)) for row in rows]


def _declared_id(declaration: Mapping[str, Any]) -> ActionTypeId:
    given = declaration["id"]
    return ActionTypeId(given["category"], given["owner"], given["provider"], given["version"])


def _redefinition_message(type_id: ActionTypeId, deleted: bool) -> str:
    label = type_label(type_id)
    if deleted:
        return (
            f"The custom action type {label} was deleted. It can be restored only with a "
            "definition identical to the deleted one; to create a different one, use a version "
            "string that has never been used before."
        )
    return (
        f"The custom action type {label} already exists with a different definition. To "
        "change it, create it under a version string that has never been used before."
    )
