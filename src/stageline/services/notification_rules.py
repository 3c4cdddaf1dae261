"""The CodeStar Notifications API's resources: notification rules on pipelines, their
targets (SNS topics, and Stageline's `Webhook` URLs), event types, tags.

Rules are unique by name (AWS: ResourceAlreadyExistsException); a target address is one row
shared by every rule that subscribes it, as AWS's ListTargets shows one target per address.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from stageline.domain import event_types
from stageline.domain.errors import (
    ResourceAlreadyExistsException,
    ResourceNotFoundException,
    ValidationException,
)
from stageline.identity import Principal
from stageline.persistence.models import Pipeline
from stageline.persistence.models_events import (
    EventDelivery,
    NotificationRule,
    NotificationRuleTarget,
    NotificationTarget,
)
from stageline.services.event_targets import new_secret
from stageline.services.events import forget_rules
from stageline.services.ports import Clock, utcnow
from stageline.services.secret_box import SecretBox
from stageline.settings import Settings

TARGET_TYPES = {"SNS": "SNS", "WEBHOOK": "Webhook"}
_SNS_ARN = re.compile(r"arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}")
_PIPELINE_ARN = re.compile(
    r"arn:aws[a-z-]*:codepipeline:([a-z0-9-]+):([0-9]{12}):([A-Za-z0-9.@_-]+)"
)
MAX_TAGS = 50


def _target_type(raw: str) -> str:
    kind = TARGET_TYPES.get(raw.upper())
    if kind is None:
        raise ValidationException(
            f"TargetType {raw} is not supported by Stageline: use SNS (a topic ARN) or "
            "Webhook (an http or https URL)."
        )
    return kind


def _check_address(kind: str, address: str) -> None:
    if kind == "SNS" and not _SNS_ARN.fullmatch(address):
        raise ValidationException(f"TargetAddress {address} is not an SNS topic ARN.")
    if kind == "Webhook" and not re.fullmatch(r"https?://[^\s/]+(/\S*)?", address):
        raise ValidationException(f"TargetAddress {address} is not an http or https URL.")


_BOXES: dict[tuple[str, str | None], SecretBox] = {}


def box_for(settings: Settings) -> SecretBox:
    """The process's SecretBox (webhook secrets are stored encrypted with it), made once."""
    key = settings.secret_key.get_secret_value() if settings.secret_key else None
    ident = (str(settings.data_dir), key)
    if ident not in _BOXES:
        _BOXES[ident] = SecretBox.from_settings(settings)
    return _BOXES[ident]


class NotificationRules:
    def __init__(self, session: Session, settings: Settings, clock: Clock = utcnow) -> None:
        self.session, self.clock = session, clock
        self.region, self.account_id = settings.region, settings.account_id
        self.settings = settings

    def _encrypted_new_secret(self) -> str:
        return box_for(self.settings).encrypt(new_secret())

    # -- rules -------------------------------------------------------------------------
    def create(self, params: dict[str, Any], principal: Principal) -> str:
        name = params["Name"]
        existing = self.session.scalar(
            select(NotificationRule).where(NotificationRule.name == name)
        )
        token = params.get("ClientRequestToken")
        if existing is not None:
            if token and existing.client_request_token == token:
                return existing.arn  # the same request again (idempotency token)
            raise ResourceAlreadyExistsException(
                f"A notification rule named {name} already exists."
            )
        self._check_resource(params["Resource"])
        now = self.clock()
        rule_id = secrets.token_hex(20)
        rule = NotificationRule(
            rule_id=rule_id,
            arn=f"arn:aws:codestar-notifications:{self.region}:{self.account_id}:notificationrule/{rule_id}",
            name=name,
            resource=params["Resource"],
            event_type_ids=self._event_types(params["EventTypeIds"]),
            detail_type=params["DetailType"],
            status=params.get("Status") or "ENABLED",
            created_by=principal.arn,
            client_request_token=token,
            tags=self._checked_tags({}, params.get("Tags") or {}),
            created_at=now,
            updated_at=now,
        )
        self.session.add(rule)
        self.session.flush()
        for target in params["Targets"]:
            self._subscribe(rule, target)
        forget_rules(self.session)
        return rule.arn

    def _check_resource(self, arn: str) -> None:
        match = _PIPELINE_ARN.fullmatch(arn)
        if match is None:
            raise ValidationException(
                f"Resource {arn} is not a pipeline ARN: Stageline's notification rules watch "
                "pipelines (arn:aws:codepipeline:REGION:ACCOUNT:NAME)."
            )
        region, account, name = match.groups()
        found = self.session.scalar(select(Pipeline.id).where(Pipeline.name == name))
        if region != self.region or account != self.account_id or found is None:
            raise ValidationException(f"The resource {arn} does not exist.")

    @staticmethod
    def _event_types(ids: list[str]) -> list[str]:
        unknown = [i for i in ids if i not in event_types.BY_ID]
        if unknown:
            raise ValidationException(
                f"Event type {unknown[0]} is not a valid event type for this resource "
                "(ListEventTypes lists them)."
            )
        return list(dict.fromkeys(ids))

    def find(self, arn: str) -> NotificationRule:
        rule = self.session.scalar(select(NotificationRule).where(NotificationRule.arn == arn))
        if rule is None:
            raise ResourceNotFoundException(f"Notification rule {arn} does not exist.")
        return rule

    def describe(self, arn: str) -> dict[str, Any]:
        rule = self.find(arn)
        return {
            "Arn": rule.arn,
            "Name": rule.name,
            "EventTypes": [event_types.view(event_types.BY_ID[i]) for i in rule.event_type_ids],
            "Resource": rule.resource,
            "Targets": [self._target_view(t) for t in self._targets(rule)],
            "DetailType": rule.detail_type,
            "CreatedBy": rule.created_by,
            "Status": rule.status,
            "CreatedTimestamp": rule.created_at,
            "LastModifiedTimestamp": rule.updated_at,
            "Tags": rule.tags,
        }

    def update(self, params: dict[str, Any]) -> None:
        rule = self.find(params["Arn"])
        if params.get("Name") and params["Name"] != rule.name:
            taken = self.session.scalar(
                select(NotificationRule.pk).where(NotificationRule.name == params["Name"])
            )
            if taken is not None:
                raise ValidationException(
                    f"A notification rule named {params['Name']} already exists."
                )
            rule.name = params["Name"]
        if params.get("EventTypeIds"):
            rule.event_type_ids = self._event_types(params["EventTypeIds"])
        for key, column in (("Status", "status"), ("DetailType", "detail_type")):
            if params.get(key):
                setattr(rule, column, params[key])
        if params.get("Targets") is not None:
            for target in self._targets(rule):
                self._unsubscribe(rule, target)
            for target_params in params["Targets"]:
                self._subscribe(rule, target_params)
        rule.updated_at = self.clock()
        forget_rules(self.session)

    def delete(self, arn: str) -> None:
        rule = self.session.scalar(select(NotificationRule).where(NotificationRule.arn == arn))
        if rule is None:
            return  # AWS deletes idempotently and answers the ARN
        for target in self._targets(rule):
            self._unsubscribe(rule, target)
        self.session.delete(rule)
        forget_rules(self.session)

    def list_rules(self, params: dict[str, Any]) -> dict[str, Any]:
        filters = {f["Name"]: f["Value"] for f in params.get("Filters") or []}
        rules = list(self.session.scalars(select(NotificationRule).order_by(NotificationRule.pk)))
        if "RESOURCE" in filters:
            rules = [r for r in rules if r.resource == filters["RESOURCE"]]
        if "CREATED_BY" in filters:
            rules = [r for r in rules if r.created_by == filters["CREATED_BY"]]
        if "EVENT_TYPE_ID" in filters:
            rules = [r for r in rules if filters["EVENT_TYPE_ID"] in r.event_type_ids]
        if "TARGET_ADDRESS" in filters:
            rules = [
                r
                for r in rules
                if any(t.address == filters["TARGET_ADDRESS"] for t in self._targets(r))
            ]
        page, token = event_types.page("rules", [r.pk for r in rules], params)
        by_pk = {r.pk: r for r in rules}
        items = [{"Id": by_pk[pk].rule_id, "Arn": by_pk[pk].arn} for pk in page]
        return {"NotificationRules": items, "NextToken": token}

    # -- targets -----------------------------------------------------------------------
    def subscribe(self, arn: str, target: dict[str, Any]) -> str:
        rule = self.find(arn)
        self._subscribe(rule, target)
        forget_rules(self.session)
        return rule.arn

    def unsubscribe(self, arn: str, address: str) -> str:
        rule = self.find(arn)
        for target in self._targets(rule):
            if target.address == address:
                self._unsubscribe(rule, target)
        forget_rules(self.session)
        return rule.arn

    def _subscribe(self, rule: NotificationRule, params: dict[str, Any]) -> None:
        if not params.get("TargetType") or not params.get("TargetAddress"):
            raise ValidationException("A target needs both TargetType and TargetAddress.")
        kind = _target_type(params["TargetType"])
        address = params["TargetAddress"]
        _check_address(kind, address)
        target = self.session.scalar(
            select(NotificationTarget).where(NotificationTarget.address == address)
        )
        if target is None:
            target = NotificationTarget(
                address=address,
                target_type=kind,
                status="ACTIVE",
                secret=self._encrypted_new_secret() if kind == "Webhook" else None,
                created_at=self.clock(),
            )
            self.session.add(target)
            self.session.flush()
        elif target.target_type != kind:
            raise ValidationException(f"Target {address} is already a {target.target_type} target.")
        link = self.session.get(NotificationRuleTarget, (rule.pk, target.pk))
        if link is None:
            self.session.add(NotificationRuleTarget(rule_pk=rule.pk, target_pk=target.pk))
            self.session.flush()

    def _unsubscribe(self, rule: NotificationRule, target: NotificationTarget) -> None:
        self.session.execute(
            delete(NotificationRuleTarget).where(
                NotificationRuleTarget.rule_pk == rule.pk,
                NotificationRuleTarget.target_pk == target.pk,
            )
        )
        # What this rule had not delivered to it yet is not wanted any more.
        self.session.execute(
            delete(EventDelivery).where(
                EventDelivery.rule_arn == rule.arn,
                EventDelivery.address == target.address,
                EventDelivery.status != "delivered",
            )
        )

    def _targets(self, rule: NotificationRule) -> list[NotificationTarget]:
        return list(
            self.session.scalars(
                select(NotificationTarget)
                .join(
                    NotificationRuleTarget,
                    NotificationRuleTarget.target_pk == NotificationTarget.pk,
                )
                .where(NotificationRuleTarget.rule_pk == rule.pk)
                .order_by(NotificationTarget.pk)
            )
        )

    @staticmethod
    def _target_view(target: NotificationTarget) -> dict[str, Any]:
        return {
            "TargetAddress": target.address,
            "TargetType": target.target_type,
            "TargetStatus": target.status,
        }

    def list_targets(self, params: dict[str, Any]) -> dict[str, Any]:
        filters = {f["Name"]: f["Value"] for f in params.get("Filters") or []}
        targets = list(
            self.session.scalars(select(NotificationTarget).order_by(NotificationTarget.pk))
        )
        if "TARGET_TYPE" in filters:
            targets = [
                t for t in targets if t.target_type.upper() == filters["TARGET_TYPE"].upper()
            ]
        if "TARGET_ADDRESS" in filters:
            targets = [t for t in targets if t.address == filters["TARGET_ADDRESS"]]
        if "TARGET_STATUS" in filters:
            targets = [t for t in targets if t.status == filters["TARGET_STATUS"]]
        page, token = event_types.page("targets", [t.pk for t in targets], params)
        by_pk = {t.pk: t for t in targets}
        views = [self._target_view(by_pk[pk]) for pk in page]
        return {"Targets": views, "NextToken": token}

    def delete_target(self, address: str, force: bool) -> None:
        target = self.session.scalar(
            select(NotificationTarget).where(NotificationTarget.address == address)
        )
        if target is None:
            return
        links = list(
            self.session.scalars(
                select(NotificationRuleTarget).where(NotificationRuleTarget.target_pk == target.pk)
            )
        )
        if links and not force:
            raise ValidationException(
                f"Target {address} is still subscribed to {len(links)} notification rule(s): "
                "unsubscribe it or pass ForceUnsubscribeAll."
            )
        for link in links:
            rule = self.session.get(NotificationRule, link.rule_pk)
            if rule is not None:
                self._unsubscribe(rule, target)
        self.session.delete(target)
        forget_rules(self.session)

    def target(self, address: str) -> NotificationTarget:
        target = self.session.scalar(
            select(NotificationTarget).where(NotificationTarget.address == address)
        )
        if target is None:
            raise ResourceNotFoundException(f"Notification target {address} does not exist.")
        return target

    def rotate_secret(self, address: str) -> str:
        target = self.target(address)
        if target.target_type != "Webhook":
            raise ValidationException(f"Target {address} is not a Webhook target.")
        target.secret = self._encrypted_new_secret()
        return self.secret(address)

    def secret(self, address: str) -> str:
        """A Webhook target's signing key, decrypted (for its owner, over REST)."""
        target = self.target(address)
        if target.secret is None:
            raise ValidationException(f"Target {address} is not a Webhook target.")
        return box_for(self.settings).decrypt(target.secret)

    # -- tags --------------------------------------------------------------------------
    def _checked_tags(self, current: dict[str, str], new: dict[str, str]) -> dict[str, str]:
        merged = {**current, **new}
        if any(k.lower().startswith("aws:") for k in new):
            raise ValidationException("Tag keys starting with aws: are reserved.")
        if len(merged) > MAX_TAGS:
            raise ValidationException(f"A resource can have at most {MAX_TAGS} tags.")
        return merged

    def tag(self, arn: str, tags: dict[str, str]) -> dict[str, str]:
        rule = self.find(arn)
        rule.tags = self._checked_tags(dict(rule.tags), tags)
        return rule.tags

    def untag(self, arn: str, keys: list[str]) -> None:
        rule = self.find(arn)
        rule.tags = {k: v for k, v in rule.tags.items() if k not in set(keys)}

    def tags(self, arn: str) -> dict[str, str]:
        return dict(self.find(arn).tags)
