"""Parameter Store and Secrets Manager values for a build's environment, the way CodeBuild
resolves `env/parameter-store`, `env/secrets-manager` and PARAMETER_STORE / SECRETS_MANAGER
project variables.

Clients come from boto3's standard configuration: AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_SSM,
AWS_ENDPOINT_URL_SECRETS_MANAGER, AWS_DEFAULT_REGION, the credential variables, the shared
config and credentials files, instance roles. botocore itself does not read AWS_REGION (which
CodeBuild sets in builds), so it is the fallback region. Each call makes at most one client,
and only once there is something to resolve.

resolve_parameters: SSM GetParameter with WithDecryption=True, so a SecureString comes back in
clear. The name may be a full ARN or carry SSM's own `:version` / `:label` selector.

resolve_secrets: a reference is `secret-id:json-key:version-stage:version-id`, every part but
the first optional (empty parts are absent). The secret-id is a name or an ARN; an ARN
(`arn:partition:secretsmanager:region:account:secret:name-suffix`) has colons of its own, so a
reference starting with `arn:` takes its first seven fields as the id; secret names cannot
contain ':', so a name ends at the first one. Without json-key the whole SecretString is the
value; with one, the secret must be a JSON object and the key's value is used (a non-string as
JSON text). version-stage and version-id go to GetSecretValue as given; with neither it answers
AWSCURRENT.

Failures raise SecretResolutionError naming the variable and the parameter or secret and why.
A value never appears in a message, nor in a chained exception: a JSON decoding error carries
the document, so it is dropped before raising.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import boto3
from botocore.exceptions import BotoCoreError, ClientError

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_secretsmanager.type_defs import GetSecretValueResponseTypeDef
    from mypy_boto3_ssm import SSMClient

_NOT_FOUND = frozenset(
    {"ParameterNotFound", "ParameterVersionNotFound", "ResourceNotFoundException"}
)


class SecretResolutionError(Exception):
    """A parameter or secret could not be resolved. The message names the environment variable
    and the parameter or secret, never its value."""

    def __init__(self, variable: str, source: str, reason: str) -> None:
        super().__init__(f"{variable}: {source}: {reason}")
        self.variable = variable
        self.source = source
        self.reason = reason


@dataclass(frozen=True)
class SecretReference:
    secret_id: str  # name or ARN
    json_key: str | None = None
    version_stage: str | None = None
    version_id: str | None = None


def parse_secret_reference(reference: str) -> SecretReference:
    """CodeBuild's `secret-id:json-key:version-stage:version-id`; ValueError when malformed."""
    text = reference.strip()
    fields = text.split(":")
    if text.startswith("arn:"):
        if (
            len(fields) < 7
            or fields[2] != "secretsmanager"
            or fields[5] != "secret"
            or not fields[6]
        ):
            raise ValueError(
                f"{reference!r} is not a Secrets Manager secret ARN "
                "(arn:partition:secretsmanager:region:account:secret:name)"
            )
        secret_id, rest = ":".join(fields[:7]), fields[7:]
    else:
        secret_id, rest = fields[0], fields[1:]
    if not secret_id:
        raise ValueError(f"{reference!r} has no secret-id")
    if len(rest) > 3:
        raise ValueError(
            f"{reference!r} has more fields than secret-id:json-key:version-stage:version-id"
        )
    key, stage, version = [*rest, "", "", ""][:3]
    return SecretReference(secret_id, key or None, stage or None, version or None)


def resolve_parameters(names: Mapping[str, str]) -> dict[str, str]:
    """{variable: parameter name} -> {variable: value}, decrypted."""
    values: dict[str, str] = {}
    client: SSMClient | None = None
    for variable, name in names.items():
        source = f"parameter {name!r}"
        try:
            client = client or _ssm()
            response = client.get_parameter(Name=name, WithDecryption=True)
        except (ClientError, BotoCoreError) as exc:
            raise SecretResolutionError(variable, source, _why(exc)) from None
        values[variable] = response["Parameter"]["Value"]
    return values


def resolve_secrets(refs: Mapping[str, str]) -> dict[str, str]:
    """{variable: secret reference} -> {variable: value}."""
    values: dict[str, str] = {}
    client: SecretsManagerClient | None = None
    for variable, reference in refs.items():
        try:
            ref = parse_secret_reference(reference)
        except ValueError as exc:
            raise SecretResolutionError(variable, "secrets-manager reference", str(exc)) from None
        source = f"secret {ref.secret_id!r}"
        request: dict[str, str] = {"SecretId": ref.secret_id}
        if ref.version_stage:
            request["VersionStage"] = ref.version_stage
        if ref.version_id:
            request["VersionId"] = ref.version_id
        try:
            client = client or _secretsmanager()
            response = client.get_secret_value(**request)
        except (ClientError, BotoCoreError) as exc:
            raise SecretResolutionError(variable, source, _why(exc)) from None
        values[variable] = _secret_value(variable, source, ref.json_key, response)
    return values


def _ssm() -> SSMClient:
    session = boto3.session.Session()
    return session.client("ssm", region_name=_region(session))


def _secretsmanager() -> SecretsManagerClient:
    session = boto3.session.Session()
    return session.client("secretsmanager", region_name=_region(session))


def _region(session: boto3.session.Session) -> str | None:
    return session.region_name or os.environ.get("AWS_REGION")


def _why(exc: ClientError | BotoCoreError) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "error"))
        if code in _NOT_FOUND:
            return "not found"
        return f"{code}: {error.get('Message', '')}".rstrip(": ")
    return str(exc)


def _secret_value(
    variable: str, source: str, key: str | None, response: GetSecretValueResponseTypeDef
) -> str:
    text = response.get("SecretString")
    if text is None:
        try:
            text = bytes(response["SecretBinary"]).decode("utf-8")
        except (KeyError, TypeError, UnicodeDecodeError):
            text = None
        if text is None:  # raised outside the except block: no context to carry bytes along
            raise SecretResolutionError(variable, source, "is binary, not UTF-8 text")
    if key is None:
        return str(text)
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        document = None
    if not isinstance(document, dict):
        raise SecretResolutionError(variable, source, f"is not a JSON object, so has no {key!r}")
    if key not in document:
        raise SecretResolutionError(variable, source, f"has no JSON key {key!r}")
    value = document[key]
    return value if isinstance(value, str) else json.dumps(value)
