"""Parameter Store and Secrets Manager references, resolved against a real moto server over
HTTP through boto3's standard configuration (endpoint, region and credentials from the
environment, as a deployment sets them)."""

from __future__ import annotations

import json
import os
import traceback
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from tests.support.moto_server import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, moto_s3_server
from tests.support.servers import free_port

from stageline.builds.secrets import (
    SecretReference,
    SecretResolutionError,
    parse_secret_reference,
    resolve_parameters,
    resolve_secrets,
)

ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf"


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    with moto_s3_server() as url:  # serves every service moto knows, SSM and Secrets Manager too
        yield url


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """No AWS settings but what a test sets: no profile, no config files, no endpoint."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return monkeypatch


@pytest.fixture
def env(aws_env: pytest.MonkeyPatch, moto_url: str) -> pytest.MonkeyPatch:
    aws_env.setenv("AWS_ENDPOINT_URL", moto_url)
    aws_env.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
    aws_env.setenv("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)
    aws_env.setenv("AWS_DEFAULT_REGION", REGION)
    return aws_env


def ssm(url: str) -> Any:
    return boto3.client(
        "ssm",
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
    )


def secretsmanager(url: str) -> Any:
    return boto3.client(
        "secretsmanager",
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
    )


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def never_shows(value: str, exc: BaseException) -> None:
    text = "".join(traceback.format_exception(exc))
    assert value not in text
    assert value not in repr(exc.args)


# -- Parameter Store -------------------------------------------------------------------------------


def test_string_and_secure_string_parameters(env: pytest.MonkeyPatch, moto_url: str) -> None:
    store = ssm(moto_url)
    plain, secure = unique("/app/plain"), unique("/app/password")
    store.put_parameter(Name=plain, Value="hello", Type="String")
    store.put_parameter(Name=secure, Value="s3cr3t-pw", Type="SecureString")

    assert resolve_parameters({"GREETING": plain, "DB_PASSWORD": secure}) == {
        "GREETING": "hello",
        "DB_PASSWORD": "s3cr3t-pw",  # decrypted: WithDecryption=True
    }


def test_a_missing_parameter_names_variable_and_parameter(
    env: pytest.MonkeyPatch, moto_url: str
) -> None:
    present = unique("/app/present")
    ssm(moto_url).put_parameter(Name=present, Value="v", Type="String")
    missing = unique("/app/missing")
    with pytest.raises(SecretResolutionError) as caught:
        resolve_parameters({"OK": present, "TOKEN": missing})
    assert str(caught.value) == f"TOKEN: parameter {missing!r}: not found"
    assert (caught.value.variable, caught.value.reason) == ("TOKEN", "not found")


def test_service_specific_endpoints_and_aws_region(
    aws_env: pytest.MonkeyPatch, moto_url: str
) -> None:
    ssm_name = unique("/svc/param")
    secret = unique("svc-secret")
    ssm(moto_url).put_parameter(Name=ssm_name, Value="p", Type="String")
    secretsmanager(moto_url).create_secret(Name=secret, SecretString="s")
    # The general endpoint goes nowhere; only the per-service ones reach moto.
    aws_env.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    aws_env.setenv("AWS_ENDPOINT_URL_SSM", moto_url)
    aws_env.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", moto_url)
    aws_env.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
    aws_env.setenv("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)
    aws_env.setenv("AWS_REGION", REGION)  # what CodeBuild sets; botocore alone ignores it

    assert resolve_parameters({"P": ssm_name}) == {"P": "p"}
    assert resolve_secrets({"S": secret}) == {"S": "s"}


def test_no_client_is_made_for_nothing(aws_env: pytest.MonkeyPatch) -> None:
    # No region, endpoint or credentials: making a client would fail.
    assert resolve_parameters({}) == {}
    assert resolve_secrets({}) == {}


def test_no_region_is_a_resolution_error(aws_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(SecretResolutionError, match=r"^NAME: parameter '/x': .*region"):
        resolve_parameters({"NAME": "/x"})
    with pytest.raises(SecretResolutionError, match=r"^S: secret 'db': .*region"):
        resolve_secrets({"S": "db"})


# -- Secrets Manager -------------------------------------------------------------------------------


@pytest.fixture
def db_secret(env: pytest.MonkeyPatch, moto_url: str) -> dict[str, str]:
    """A JSON secret with two versions: AWSPREVIOUS (pw1) and AWSCURRENT (pw2)."""
    sm = secretsmanager(moto_url)
    name = unique("prod/db")
    first = sm.create_secret(
        Name=name, SecretString=json.dumps({"password": "pw1", "port": 5432, "tls": True})
    )
    sm.put_secret_value(SecretId=name, SecretString=json.dumps({"password": "pw2", "port": 5433}))
    return {"name": name, "arn": first["ARN"], "first": first["VersionId"]}


def test_plain_and_json_secrets(
    env: pytest.MonkeyPatch, moto_url: str, db_secret: dict[str, str]
) -> None:
    token = unique("api-token")
    secretsmanager(moto_url).create_secret(Name=token, SecretString="tok-123")
    name, arn, first = db_secret["name"], db_secret["arn"], db_secret["first"]

    assert resolve_secrets(
        {
            "TOKEN": token,
            "DB_JSON": name,
            "DB_PASSWORD": f"{name}:password",
            "DB_PORT": f"{name}:port",
            "BY_ARN": f"{arn}:password",
            "WHOLE_BY_ARN": arn,
            "PREVIOUS": f"{name}:password:AWSPREVIOUS",
            "BY_VERSION_ID": f"{arn}:tls::{first}",
            "EMPTY_PARTS": f"{name}:::",
        }
    ) == {
        "TOKEN": "tok-123",
        "DB_JSON": '{"password": "pw2", "port": 5433}',
        "DB_PASSWORD": "pw2",
        "DB_PORT": "5433",  # a JSON number, as JSON text
        "BY_ARN": "pw2",
        "WHOLE_BY_ARN": '{"password": "pw2", "port": 5433}',
        "PREVIOUS": "pw1",
        "BY_VERSION_ID": "true",
        "EMPTY_PARTS": '{"password": "pw2", "port": 5433}',
    }


def test_a_missing_secret(env: pytest.MonkeyPatch) -> None:
    missing = unique("nope")
    with pytest.raises(SecretResolutionError) as caught:
        resolve_secrets({"API_KEY": f"{missing}:key"})
    assert str(caught.value) == f"API_KEY: secret {missing!r}: not found"


def test_a_missing_json_key_never_shows_the_secret(
    env: pytest.MonkeyPatch, db_secret: dict[str, str]
) -> None:
    with pytest.raises(SecretResolutionError) as caught:
        resolve_secrets({"DB_USER": f"{db_secret['name']}:username"})
    assert str(caught.value) == f"DB_USER: secret {db_secret['name']!r}: has no JSON key 'username'"
    never_shows("pw2", caught.value)


def test_a_json_key_into_a_plain_secret_never_shows_it(
    env: pytest.MonkeyPatch, moto_url: str
) -> None:
    name = unique("plain")
    secretsmanager(moto_url).create_secret(Name=name, SecretString="{not-json hunter2")
    with pytest.raises(SecretResolutionError) as caught:
        resolve_secrets({"X": f"{name}:key"})
    assert "is not a JSON object" in str(caught.value)
    never_shows("hunter2", caught.value)
    assert caught.value.__context__ is None  # a JSONDecodeError would carry the document


def test_an_unknown_version_stage(env: pytest.MonkeyPatch, db_secret: dict[str, str]) -> None:
    with pytest.raises(SecretResolutionError, match=r"^V: secret '.*': not found$"):
        resolve_secrets({"V": f"{db_secret['name']}::NO_SUCH_STAGE"})


def test_a_malformed_reference(env: pytest.MonkeyPatch) -> None:
    with pytest.raises(SecretResolutionError, match=r"^BAD: secrets-manager reference: .*ARN"):
        resolve_secrets({"BAD": "arn:aws:s3:::bucket"})


# -- reference syntax ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reference", "parsed"),
    [
        ("db", SecretReference("db")),
        (" db ", SecretReference("db")),
        ("prod/db:password", SecretReference("prod/db", "password")),
        ("db::AWSPREVIOUS", SecretReference("db", None, "AWSPREVIOUS")),
        ("db:::v-1", SecretReference("db", None, None, "v-1")),
        ("db:k:AWSCURRENT:v-1", SecretReference("db", "k", "AWSCURRENT", "v-1")),
        (ARN, SecretReference(ARN)),
        (f"{ARN}:password", SecretReference(ARN, "password")),
        (f"{ARN}:password::v-2", SecretReference(ARN, "password", None, "v-2")),
        (
            "arn:aws-cn:secretsmanager:cn-north-1:1:secret:x-1:k",
            SecretReference("arn:aws-cn:secretsmanager:cn-north-1:1:secret:x-1", "k"),
        ),
    ],
)
def test_parse_secret_reference(reference: str, parsed: SecretReference) -> None:
    assert parse_secret_reference(reference) == parsed


@pytest.mark.parametrize(
    ("reference", "problem"),
    [
        ("", "has no secret-id"),
        (":key", "has no secret-id"),
        ("db:k:s:v:extra", "more fields than"),
        (f"{ARN}:k:s:v:extra", "more fields than"),
        ("arn:aws:secretsmanager:us-east-1:1:secret", "not a Secrets Manager secret ARN"),
        ("arn:aws:secretsmanager:us-east-1:1:secret:", "not a Secrets Manager secret ARN"),
        ("arn:aws:ssm:us-east-1:1:parameter/x", "not a Secrets Manager secret ARN"),
    ],
)
def test_malformed_references(reference: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_secret_reference(reference)
