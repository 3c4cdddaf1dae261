"""Hosts and connections (the codeconnections / codestar-connections APIs) and their
credentials.

AWS finishes a connection with a console handshake (PENDING → AVAILABLE); Stageline takes the
credentials instead (`complete`: a token, user name and password, an SSH key, or anonymous
access), encrypts them with the SecretBox and never hands them back. Every connection also has
a webhook secret for its git host's push events. Services never commit: the caller's unit of
work does.
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from stageline.domain import connections as rules
from stageline.domain.arns import Arns
from stageline.domain.errors import (
    InvalidTagsException,
    LimitExceededException,
    ResourceNotFoundException,
    ServiceError,
    TooManyTagsException,
    ValidationException,
)
from stageline.persistence.models_connections import Connection, ConnectionHost
from stageline.services.pagination import decode_token, encode_token
from stageline.services.secret_box import SecretBox
from stageline.services.tags import TagService

MAX_CONNECTIONS = 250  # AWS's default quota per account and region
MAX_HOSTS = 100
HOST_PROVIDERS = ("GitHubEnterpriseServer", "GitLabSelfManaged")  # CreateHost's ProviderType
DEFAULT_PAGE = 50


class ResourceUnavailableException(ServiceError):
    code = "ResourceUnavailableException"


class ConnectionNotAvailable(ResourceUnavailableException):
    """The connection exists but cannot be used yet (PENDING) or any more (ERROR)."""


def _now() -> datetime:
    return datetime.now(UTC)


class ConnectionService:
    def __init__(
        self, session: Session, arns: Arns, box: SecretBox, api: str | None = None
    ) -> None:
        self.session = session
        self.arns = arns
        self.box = box
        self.api = api  # the API answering: codestar-connections only knows its own host ARNs

    # --- ARNs and lookups -----------------------------------------------------------------

    def host_arn(self, host: ConnectionHost, *, stored: bool = False) -> str:
        a = self.arns
        service = host.service
        if self.api == "codestar-connections" and not stored:
            service = self.api
        return rules.make_arn(service, a.region, a.account_id, "host", host.host_id)

    def connection_arn(self, row: Connection) -> str:
        a = self.arns
        return rules.make_arn(row.service, a.region, a.account_id, "connection", row.connection_id)

    def _name(self, arn: str, kind: str) -> rules.ResourceName | None:
        name = rules.parse_arn(arn)
        if name is None or name.kind != kind:
            return None
        if name.region != self.arns.region or name.account != self.arns.account_id:
            return None
        return name

    def find_host(self, arn: str) -> ConnectionHost:
        name = self._name(arn, "host")
        host = None
        if name is not None:
            host = self.session.scalar(
                select(ConnectionHost).where(ConnectionHost.host_id == name.resource_id)
            )
        if host is None:
            raise ResourceNotFoundException(f"Host {arn} does not exist.")
        return host

    def find_connection(self, arn: str) -> Connection:
        name = self._name(arn, "connection")
        if name is None:
            raise ResourceNotFoundException(f"Connection {arn} does not exist.")
        return self.by_id(name.resource_id, arn)

    def by_id(self, connection_id: str, shown: str | None = None) -> Connection:
        row = self.session.scalar(
            select(Connection).where(Connection.connection_id == connection_id)
        )
        if row is None:
            raise ResourceNotFoundException(f"Connection {shown or connection_id} does not exist.")
        return row

    # --- hosts ----------------------------------------------------------------------------

    def create_host(self, service: str, params: dict[str, Any]) -> dict[str, Any]:
        endpoint = _checked_endpoint(params["ProviderEndpoint"])
        if params["ProviderType"] not in HOST_PROVIDERS:
            # AWS's hosts are for installed providers only; any git server (Gitea, a plain
            # git daemon, file://) is reached through one of these two types.
            raise ValidationException(
                f"ProviderType {params['ProviderType']} cannot have a host: a host's "
                f"ProviderType is {' or '.join(HOST_PROVIDERS)}."
            )
        if self._count(ConnectionHost) >= MAX_HOSTS:
            raise LimitExceededException(f"An account can have at most {MAX_HOSTS} hosts.")
        host = ConnectionHost(
            host_id=rules.host_resource_id(params["Name"], uuid.uuid4().hex[:8]),
            service=service,
            name=params["Name"],
            provider_type=params["ProviderType"],
            provider_endpoint=endpoint,
            status=rules.HOST_AVAILABLE,
            vpc_configuration=params.get("VpcConfiguration"),
            created_at=_now(),
        )
        self.session.add(host)
        self.session.flush()
        tags = self._tag(self.host_arn(host, stored=True), params.get("Tags") or [])
        return {"HostArn": self.host_arn(host), "Tags": tags or None}

    def host_view(self, host: ConnectionHost, *, with_arn: bool = True) -> dict[str, Any]:
        view = {
            "Name": host.name,
            "ProviderType": host.provider_type,
            "ProviderEndpoint": host.provider_endpoint,
            "VpcConfiguration": host.vpc_configuration,
            "Status": host.status,
        }
        if with_arn:
            view["HostArn"] = self.host_arn(host)
        return view

    def list_hosts(
        self, max_results: int | None, next_token: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        rows, token = self._page(
            select(ConnectionHost), ConnectionHost.pk, "hosts", max_results, next_token
        )
        return [self.host_view(h) for h in rows], token

    def update_host(self, arn: str, params: dict[str, Any]) -> None:
        host = self.find_host(arn)
        endpoint = params.get("ProviderEndpoint")
        if endpoint is not None:
            host.provider_endpoint = _checked_endpoint(endpoint)
        if "VpcConfiguration" in params:
            host.vpc_configuration = params["VpcConfiguration"]

    def delete_host(self, arn: str) -> None:
        host = self.find_host(arn)
        users = self.session.scalar(
            select(func.count()).select_from(Connection).where(Connection.host_pk == host.pk)
        )
        if users:
            raise ResourceUnavailableException(
                f"Host {arn} still has {users} connection(s); delete them first."
            )
        TagService(self.session).delete_all(self.host_arn(host, stored=True))
        self.session.delete(host)

    # --- connections ----------------------------------------------------------------------

    def create_connection(self, service: str, params: dict[str, Any]) -> dict[str, Any]:
        provider = params.get("ProviderType")
        host = self.find_host(params["HostArn"]) if params.get("HostArn") else None
        if host is not None:
            if provider is not None and provider != host.provider_type:
                raise ValidationException(
                    f"ProviderType {provider} does not match the host's {host.provider_type}."
                )
            provider = host.provider_type
        elif provider is None:
            raise ValidationException("Either ProviderType or HostArn must be specified.")
        elif provider not in rules.PUBLIC_ENDPOINTS:
            raise ValidationException(
                f"A {provider} connection needs a HostArn (a host names the server's address)."
            )
        if self._count(Connection) >= MAX_CONNECTIONS:
            raise LimitExceededException(
                f"An account can have at most {MAX_CONNECTIONS} connections."
            )
        now = _now()
        row = Connection(
            connection_id=str(uuid.uuid4()),
            service=service,
            name=params["ConnectionName"],
            provider_type=provider,
            host_pk=host.pk if host else None,
            status=rules.PENDING,
            webhook_secret=self.box.encrypt(secrets.token_urlsafe(32)),
            created_at=now,
            updated_at=now,
        )
        self.session.add(row)
        self.session.flush()
        arn = self.connection_arn(row)
        tags = self._tag(arn, params.get("Tags") or [])
        return {"ConnectionArn": arn, "Tags": tags or None}

    def connection_view(self, row: Connection) -> dict[str, Any]:
        return {
            "ConnectionName": row.name,
            "ConnectionArn": self.connection_arn(row),
            "ProviderType": row.provider_type,
            "OwnerAccountId": self.arns.account_id,
            "ConnectionStatus": row.status,
            "HostArn": self.host_arn(row.host) if row.host else None,
        }

    def list_connections(self, params: dict[str, Any]) -> tuple[list[dict[str, Any]], str | None]:
        rows, token = self.connection_rows(params)
        return [self.connection_view(r) for r in rows], token

    def connection_rows(self, params: dict[str, Any]) -> tuple[list[Connection], str | None]:
        query = select(Connection)
        if params.get("ProviderTypeFilter"):
            query = query.where(Connection.provider_type == params["ProviderTypeFilter"])
        if params.get("HostArnFilter"):
            host = self.find_host(params["HostArnFilter"])
            query = query.where(Connection.host_pk == host.pk)
        return self._page(
            query, Connection.pk, "connections", params.get("MaxResults"), params.get("NextToken")
        )

    def delete_connection(self, arn: str) -> None:
        row = self.find_connection(arn)
        TagService(self.session).delete_all(self.connection_arn(row))
        self.session.delete(row)

    # --- credentials and the webhook secret (REST and CLI, never the AWS API) --------------

    def complete(self, connection_id: str, credentials: dict[str, Any]) -> Connection:
        """Store the connection's credentials (encrypted) and make it AVAILABLE."""
        row = self.by_id(connection_id)
        kind, secret = _credential(credentials)
        row.credential_kind = kind
        row.credential = self.box.encrypt(json.dumps(secret)) if secret else None
        row.status = rules.AVAILABLE
        row.updated_at = _now()
        return row

    def credential(self, row: Connection) -> dict[str, str]:
        """The decrypted credential ({} for anonymous access). Never log or return it."""
        return json.loads(self.box.decrypt(row.credential)) if row.credential else {}

    def webhook_secret(self, connection_id: str) -> str:
        return self.box.decrypt(self.by_id(connection_id).webhook_secret)

    def rotate_webhook_secret(self, connection_id: str) -> str:
        row = self.by_id(connection_id)
        secret = secrets.token_urlsafe(32)
        row.webhook_secret = self.box.encrypt(secret)
        row.updated_at = _now()
        return secret

    # --- tags -----------------------------------------------------------------------------

    def resource_arn(self, arn: str) -> str:
        """The stored ARN of the connection or host `arn` names (either API's form)."""
        name = rules.parse_arn(arn)
        if name is not None and name.kind == "host":
            return self.host_arn(self.find_host(arn), stored=True)
        if name is not None and name.kind == "connection":
            return self.connection_arn(self.find_connection(arn))
        raise ResourceNotFoundException(f"Resource {arn} does not exist.")

    def tag_resource(self, arn: str, tags: Sequence[dict[str, str]]) -> None:
        self._tag(self.resource_arn(arn), tags)

    def untag_resource(self, arn: str, keys: Sequence[str]) -> None:
        try:
            TagService(self.session).untag(self.resource_arn(arn), keys)
        except InvalidTagsException as exc:
            raise ValidationException(exc.message) from None

    def list_tags(self, arn: str) -> list[dict[str, str]]:
        tags, _ = TagService(self.session).list(self.resource_arn(arn), max_results=200)
        return [{"Key": t["key"], "Value": t["value"]} for t in tags]

    def _tag(self, arn: str, tags: Sequence[dict[str, str]]) -> list[dict[str, str]]:
        try:
            TagService(self.session).tag(
                arn, [{"key": t["Key"], "value": t["Value"]} for t in tags]
            )
        except InvalidTagsException as exc:
            raise ValidationException(exc.message) from None
        except TooManyTagsException as exc:
            raise LimitExceededException(exc.message) from None
        return [{"Key": t["Key"], "Value": t["Value"]} for t in tags]

    # --- helpers --------------------------------------------------------------------------

    def _count(self, model: type[Connection] | type[ConnectionHost]) -> int:
        return int(self.session.scalar(select(func.count()).select_from(model)) or 0)

    def _page(
        self, query: Any, key: Any, kind: str, max_results: int | None, next_token: str | None
    ) -> tuple[list[Any], str | None]:
        after = decode_token(kind, next_token)
        limit = max_results or DEFAULT_PAGE
        if after is not None:
            query = query.where(key > int(after.get("pk", 0)))
        rows = list(self.session.scalars(query.order_by(key).limit(limit + 1)).unique())
        token = encode_token(kind, {"pk": rows[limit - 1].pk}) if len(rows) > limit else None
        return rows[:limit], token


def _checked_endpoint(endpoint: str) -> str:
    """A usable ProviderEndpoint, without its trailing slash. One that carries a password is
    refused without echoing it: hosts are shown to whoever may list them, and credentials
    belong in the connection, encrypted."""
    try:
        parts = urlsplit(endpoint)
        _ = parts.port  # ValueError when the port is not a number
    except ValueError as exc:
        raise ValidationException(f"ProviderEndpoint is not a valid URL: {exc}.") from None
    if parts.password is not None:
        raise ValidationException(
            "ProviderEndpoint must not hold a password: give credentials to the connection "
            "(PUT /api/v1/connections/<id>/credentials or `stageline connections complete`)."
        )
    problem = rules.endpoint_problem(endpoint)
    if problem:
        raise ValidationException(problem)
    return endpoint.rstrip("/")


def _credential(body: dict[str, Any]) -> tuple[str, dict[str, str] | None]:
    """Which kind of credential `body` gives, and its secret part; exactly one kind."""
    given = [k for k in ("token", "username", "sshPrivateKey", "anonymous") if body.get(k)]
    if len(given) != 1:
        raise ValidationException(
            "Give exactly one of: token, username and password, sshPrivateKey, or "
            '"anonymous": true.'
        )
    kind = given[0]
    if kind == "anonymous":
        if body["anonymous"] is not True:
            raise ValidationException('"anonymous" must be true.')
        return "anonymous", None
    for field, limit in (("token", 4096), ("username", 256), ("password", 4096)):
        value = body.get(field)
        if value is not None and (not isinstance(value, str) or len(value) > limit):
            raise ValidationException(f"{field} must be a string of at most {limit} characters.")
    if kind == "token":
        return "token", {"token": body["token"]}
    if kind == "username":
        if not body.get("password"):
            raise ValidationException("A username needs a password.")
        return "basic", {"username": body["username"], "password": body["password"]}
    key = body["sshPrivateKey"]
    if not isinstance(key, str) or "PRIVATE KEY" not in key or len(key) > 16384:
        raise ValidationException("sshPrivateKey must be a PEM or OpenSSH private key.")
    return "ssh", {"ssh_key": key if key.endswith("\n") else key + "\n"}
