"""V1 webhooks: PutWebhook / ListWebhooks / DeleteWebhook definitions, and the deliveries
posted to their URLs.

Follows the API reference (WebhookDefinition, WebhookFilterRule, WebhookAuthConfiguration):
every filter's JSONPath must select a value equal to its matchEquals, in which `{Property}`
names a configuration property of the target action; GITHUB_HMAC checks GitHub's signature
header with the secret token, IP the caller's address against AllowedIPRange, UNAUTHENTICATED
nothing. The secret token is stored encrypted and shown redacted, as AWS does.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress
import json
import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# jsonpath-ng ships no type information.
from jsonpath_ng.ext import parse as parse_jsonpath  # type: ignore[import-untyped]
from sqlalchemy import select
from sqlalchemy.orm import Session

from stageline.domain.arns import Arns
from stageline.domain.errors import PipelineNotFoundException, ServiceError, ValidationException
from stageline.persistence.models_triggers import Webhook
from stageline.services.pagination import decode_token, encode_token
from stageline.services.ports import Clock, utcnow
from stageline.services.secret_box import SecretBox, SecretBoxError
from stageline.services.tags import TagService
from stageline.services.triggering import REVISION_TYPES, SourceRef, Starter, source_actions

MASK = "****"


@dataclass(frozen=True)
class Delivery:
    """One POST to a webhook URL: raw body (signatures cover the exact bytes), headers and
    the caller's address."""

    body: bytes
    headers: Mapping[str, str]
    client: str | None


PLACEHOLDER = re.compile(r"\{([^{}]+)\}")
SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


def _error(code: str, status: int = 400) -> type[ServiceError]:
    return type(code, (ServiceError,), {"code": code, "status": status})


WebhookNotFoundException = _error("WebhookNotFoundException")
InvalidWebhookFilterPatternException = _error("InvalidWebhookFilterPatternException")
InvalidWebhookAuthenticationParametersException = _error(
    "InvalidWebhookAuthenticationParametersException"
)
WebhookAccessDenied = _error("AccessDeniedException", 403)
UnknownWebhook = _error("ResourceNotFoundException", 404)


class WebhookService:
    def __init__(
        self, session: Session, arns: Arns, box: SecretBox, public_url: str, clock: Clock = utcnow
    ) -> None:
        self.session = session
        self.arns = arns
        self.box = box
        self.public_url = public_url.rstrip("/")
        self.clock = clock

    def arn(self, name: str) -> str:
        return f"arn:aws:codepipeline:{self.arns.region}:{self.arns.account_id}:webhook:{name}"

    def url(self, row: Webhook) -> str:
        return f"{self.public_url}/webhooks/trigger?t={row.token}&v=1"

    # -- definitions -------------------------------------------------------------------
    def put(self, definition: Mapping[str, Any], tags: Sequence[dict[str, Any]]) -> dict[str, Any]:
        target = self.target_of(definition["targetPipeline"], definition["targetAction"])
        check_filters(definition["filters"], target.configuration)
        row = self.session.scalar(select(Webhook).where(Webhook.name == definition["name"]))
        secret = _check_authentication(definition, row is not None and row.secret is not None)
        stored = _without_secret(definition)
        now = self.clock()
        if row is None:
            row = Webhook(
                name=definition["name"],
                token=secrets.token_urlsafe(32),
                created_at=now,
            )
            self.session.add(row)
        row.pipeline_name = definition["targetPipeline"]
        row.action_name = definition["targetAction"]
        row.definition = stored
        if secret is not None:
            row.secret = self.box.encrypt(secret)
        elif definition["authentication"] != "GITHUB_HMAC":
            row.secret = None
        row.updated_at = now
        self.session.flush()
        if tags:
            TagService(self.session).tag(self.arn(row.name), tags)
        return self.item(row)

    def target_of(self, pipeline: str, action: str) -> SourceRef:
        refs = list(source_actions(self.session, pipeline))
        if not refs:
            raise PipelineNotFoundException(f"Pipeline {pipeline} not found.")
        for ref in refs:
            if ref.name == action:
                return ref
        raise ValidationException(
            f"Webhook target action {action} is not an action of the source (first) stage of "
            f"pipeline {pipeline}."
        )

    def exists(self, name: str) -> bool:
        return self.session.scalar(select(Webhook.pk).where(Webhook.name == name)) is not None

    def get(self, name: str | None) -> Webhook:
        row = self.session.scalar(select(Webhook).where(Webhook.name == (name or "")))
        if row is None:
            raise WebhookNotFoundException(f"Webhook {name} was not found.")
        return row

    def item(self, row: Webhook) -> dict[str, Any]:
        definition = json.loads(json.dumps(row.definition))
        if row.secret is not None:
            definition.setdefault("authenticationConfiguration", {})["SecretToken"] = MASK
        tags, _ = TagService(self.session).list(self.arn(row.name), None, None)
        return {
            "definition": definition,
            "url": self.url(row),
            "errorMessage": row.error_message,
            "errorCode": row.error_code,
            "lastTriggered": row.last_triggered,
            "arn": self.arn(row.name),
            "tags": tags or None,
        }

    def list(
        self, max_results: int | None, next_token: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        position = decode_token("webhooks", next_token) or {}
        limit = max_results or 100
        rows = self.session.scalars(
            select(Webhook)
            .where(Webhook.pk > int(position.get("after", 0)))
            .order_by(Webhook.pk)
            .limit(limit + 1)
        ).all()
        more = len(rows) > limit
        rows = rows[:limit]
        token = encode_token("webhooks", {"after": rows[-1].pk}) if more else None
        return [self.item(row) for row in rows], token

    def delete(self, name: str) -> Webhook | None:
        """Delete a webhook; an unknown name succeeds (AWS: already deleted is fine)."""
        row = self.session.scalar(select(Webhook).where(Webhook.name == name))
        if row is None:
            return None
        TagService(self.session).delete_all(self.arn(name))
        self.session.delete(row)
        return row

    def secret_of(self, row: Webhook) -> str | None:
        return None if row.secret is None else readable(self.box.decrypt, row.secret)

    # -- deliveries --------------------------------------------------------------------
    def delivery(self, token: str) -> Webhook:
        row = self.session.scalar(select(Webhook).where(Webhook.token == token))
        if row is None:
            raise UnknownWebhook("No webhook has this URL (it may have been deleted).")
        return row

    def authenticate(
        self, row: Webhook, headers: Mapping[str, str], body: bytes, client: str | None
    ) -> None:
        kind = row.definition["authentication"]
        if kind == "GITHUB_HMAC":
            secret = self.secret_of(row) or ""
            if not github_signature_ok(secret, headers, body):
                raise WebhookAccessDenied("The webhook signature is missing or does not match.")
        elif kind == "IP":
            allowed = ipaddress.ip_network(
                row.definition["authenticationConfiguration"]["AllowedIPRange"], strict=False
            )
            try:
                inside = client is not None and ipaddress.ip_address(client) in allowed
            except ValueError:
                inside = False
            if not inside:
                raise WebhookAccessDenied("The caller's address is outside AllowedIPRange.")


def readable(decrypt: Callable[[str], str], stored: str) -> str:
    """A stored secret, decrypted; a clear refusal when this process has another key."""
    try:
        return decrypt(stored)
    except SecretBoxError:
        raise WebhookAccessDenied(
            "The webhook secret cannot be read with this server's key (every replica needs "
            "the same STAGELINE_SECRET_KEY); the delivery is refused."
        ) from None


def github_signature_ok(secret: str, headers: Mapping[str, str], body: bytes) -> bool:
    """GitHub's X-Hub-Signature-256 (or the older SHA-1 X-Hub-Signature), compared in
    constant time."""
    lowered = {k.lower(): v for k, v in headers.items()}
    for header, algorithm in (("x-hub-signature-256", "sha256"), ("x-hub-signature", "sha1")):
        given = lowered.get(header)
        if given is None:
            continue
        digest = hmac.new(secret.encode(), body, getattr(hashlib, algorithm)).hexdigest()
        return hmac.compare_digest(f"{algorithm}={digest}".encode(), given.strip().encode())
    return False


@functools.lru_cache(maxsize=512)
def _compiled(path: str) -> Any:
    """A parsed JSONPath (parsing costs far more than matching; rules repeat)."""
    return parse_jsonpath(path)


def check_filters(filters: Sequence[Mapping[str, str]], configuration: Mapping[str, str]) -> None:
    for rule in filters:
        try:
            _compiled(rule["jsonPath"])
        except Exception as exc:  # its lexer and parser raise several unrelated types
            raise InvalidWebhookFilterPatternException(
                f"The JsonPath {rule['jsonPath']!r} is not valid: {exc}"
            ) from None
        for name in PLACEHOLDER.findall(rule.get("matchEquals") or ""):
            if name not in configuration:
                raise InvalidWebhookFilterPatternException(
                    f"MatchEquals {rule['matchEquals']!r} names {{{name}}}, which is not a "
                    "configuration property of the target action."
                )


def filters_match(
    filters: Sequence[Mapping[str, str]], payload: Any, configuration: Mapping[str, str]
) -> bool:
    """All filters pass: each JSONPath selects a value equal to its resolved matchEquals
    (without matchEquals, selects anything at all)."""
    for rule in filters:
        found = [m.value for m in _compiled(rule["jsonPath"]).find(payload)]
        expected = rule.get("matchEquals")
        if expected is None:
            if not any(v is not None for v in found):
                return False
            continue
        wanted = PLACEHOLDER.sub(lambda m: str(configuration.get(m.group(1), m.group(0))), expected)
        if not any(_text(v) == wanted for v in found):
            return False
    return True


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def payload_commit(payload: Any, target: SourceRef) -> str | None:
    """The commit a delivery names (GitHub push head, GitLab checkout_sha), for targets whose
    revisions are commits."""
    if REVISION_TYPES.get(target.provider) != "COMMIT_ID" or not isinstance(payload, dict):
        return None
    head = payload.get("head_commit")
    for value in (
        head.get("id") if isinstance(head, dict) else None,
        payload.get("checkout_sha"),
        payload.get("after"),
    ):
        if isinstance(value, str) and SHA.fullmatch(value) and value.strip("0"):
            return value
    return None


def _check_authentication(definition: Mapping[str, Any], had_secret: bool) -> str | None:
    """The secret token to store (None: keep or drop); refuses parameters that do not fit
    the authentication type."""
    kind = definition["authentication"]
    config = definition.get("authenticationConfiguration") or {}
    token, cidr = config.get("SecretToken"), config.get("AllowedIPRange")
    bad = InvalidWebhookAuthenticationParametersException
    if kind == "GITHUB_HMAC":
        if cidr is not None or token is None:
            raise bad("GITHUB_HMAC authentication takes exactly the SecretToken property.")
        if token == MASK:
            if not had_secret:
                raise bad("SecretToken **** keeps a stored token, and this webhook has none.")
            return None
        return str(token)
    if kind == "IP":
        if token is not None or cidr is None:
            raise bad("IP authentication takes exactly the AllowedIPRange property.")
        try:
            ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            raise bad(f"AllowedIPRange {cidr!r} is not a valid CIDR range.") from None
        return None
    if token is not None or cidr is not None:
        raise bad("UNAUTHENTICATED authentication takes no properties.")
    return None


def _without_secret(definition: Mapping[str, Any]) -> dict[str, Any]:
    stored = json.loads(json.dumps(dict(definition)))
    stored.setdefault("authenticationConfiguration", {}).pop("SecretToken", None)
    return dict(stored)


def deliver(
    uow: Any,
    webhooks: WebhookService,
    starter: Starter,
    token: str,
    delivery: Delivery,
) -> str | None:
    """Authenticate a delivery, apply the filters, start the target pipeline: the new
    execution's id, or None when the filters do not match."""
    row = webhooks.delivery(token)
    webhooks.authenticate(row, delivery.headers, delivery.body, delivery.client)
    try:
        payload = json.loads(delivery.body)
    except ValueError:
        raise ValidationException("The webhook payload is not JSON.") from None
    try:
        target = webhooks.target_of(row.pipeline_name, row.action_name)
    except ServiceError as exc:  # the pipeline or action went away: visible in ListWebhooks
        row.error_code, row.error_message = exc.code, exc.message
        return None
    if not filters_match(row.definition.get("filters") or [], payload, target.configuration):
        return None
    row.last_triggered = webhooks.clock()
    row.error_code = row.error_message = None
    commit = payload_commit(payload, target)
    return starter.start(
        uow, row.pipeline_name, target.action, commit, "Webhook", webhooks.arn(row.name)
    )
