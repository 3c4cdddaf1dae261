"""SigV4 authentication of the AWS endpoint, end to end: boto3's signatures are accepted, every
other caller gets AWS's 403 errors, and a refused request changes nothing."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import boto3
import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from tests.support.pipelines import two_stage
from tests.support.servers import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, Server

PREFIX = "CodePipeline_20150709"
CONTENT_TYPE = "application/x-amz-json-1.1"


def client(server: Server, key: str = ACCESS_KEY_ID, secret: str = SECRET_ACCESS_KEY) -> Any:
    return boto3.client(
        "codepipeline",
        endpoint_url=server.url,
        region_name=REGION,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 1}),
    )


@contextmanager
def signing_clock(offset: timedelta) -> Iterator[None]:
    """botocore signs as if its clock were `offset` away from now (it uses naive UTC)."""
    moment = datetime.now(UTC).replace(tzinfo=None) + offset
    with mock.patch("botocore.auth.get_current_datetime", lambda *a, **k: moment):
        yield


def refused(call: Callable[..., Any], **params: Any) -> ClientError:
    """The 403 a boto3 call earns, checked for AWS's error headers."""
    with pytest.raises(ClientError) as info:
        call(**params)
    response = info.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 403
    headers = response["ResponseMetadata"]["HTTPHeaders"]
    assert headers["x-amzn-errortype"] == response["Error"]["Code"]
    assert uuid.UUID(headers["x-amzn-requestid"])
    return info.value


def code(error: ClientError) -> str:
    return str(error.response["Error"]["Code"])


def message(error: ClientError) -> str:
    return str(error.response["Error"]["Message"])


def raw_post(
    server: Server,
    headers: Mapping[str, str],
    body: bytes = b"{}",
    operation: str = "ListPipelines",
) -> httpx.Response:
    all_headers = {"Content-Type": CONTENT_TYPE, "X-Amz-Target": f"{PREFIX}.{operation}"}
    return httpx.post(server.url + "/", content=body, headers={**all_headers, **headers})


def assert_403(response: httpx.Response, error_type: str) -> str:
    """AWS's 403 envelope; the message."""
    assert response.status_code == 403, response.text
    assert response.headers["content-type"] == CONTENT_TYPE
    assert response.headers["x-amzn-errortype"] == error_type
    assert uuid.UUID(response.headers["x-amzn-requestid"])
    body = response.json()
    assert body["__type"] == error_type
    assert "Traceback" not in response.text
    return str(body["message"])


def assert_not_created(server: Server, name: str) -> None:
    with pytest.raises(ClientError) as info:
        client(server).get_pipeline(name=name)
    assert code(info.value) == "PipelineNotFoundException"


# --- boto3 with the wrong credentials or clock ----------------------------------------------


def test_the_right_key_is_accepted(server: Server) -> None:
    response = client(server).list_pipelines()
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_a_wrong_secret_is_an_invalid_signature(server: Server) -> None:
    error = refused(client(server, secret="not-the-secret").list_pipelines)

    assert code(error) == "InvalidSignatureException"
    assert message(error).startswith("The request signature we calculated does not match")


def test_an_unknown_access_key_is_unrecognized(server: Server) -> None:
    error = refused(client(server, key="AKIANOSUCHKEY0000000").list_pipelines)

    assert code(error) == "UnrecognizedClientException"
    assert message(error) == "The security token included in the request is invalid."


def test_a_signature_older_than_15_minutes_has_expired(server: Server) -> None:
    cp = client(server)
    with signing_clock(-timedelta(minutes=20)):
        error = refused(cp.list_pipelines)

    assert code(error) == "InvalidSignatureException"
    assert message(error).startswith("Signature expired: ")


def test_a_signature_from_the_future_is_not_yet_current(server: Server) -> None:
    cp = client(server)
    with signing_clock(timedelta(minutes=20)):
        error = refused(cp.list_pipelines)

    assert code(error) == "InvalidSignatureException"
    assert message(error).startswith("Signature not yet current: ")


def test_a_small_clock_skew_is_tolerated(server: Server) -> None:
    cp = client(server)
    for minutes in (-10, 10):
        with signing_clock(timedelta(minutes=minutes)):
            assert cp.list_pipelines()["ResponseMetadata"]["HTTPStatusCode"] == 200


@pytest.mark.parametrize(
    "make_client",
    [
        lambda s: client(s, secret="not-the-secret"),
        lambda s: client(s, key="AKIANOSUCHKEY0000000"),
    ],
    ids=["wrong-secret", "unknown-key"],
)
def test_a_refused_create_writes_nothing(
    server: Server, make_client: Callable[[Server], Any]
) -> None:
    declaration = two_stage()

    refused(make_client(server).create_pipeline, pipeline=declaration)

    assert_not_created(server, declaration["name"])


def test_an_expired_create_writes_nothing(server: Server) -> None:
    cp, declaration = client(server), two_stage()
    with signing_clock(-timedelta(hours=1)):
        refused(cp.create_pipeline, pipeline=declaration)

    assert_not_created(server, declaration["name"])


# --- raw requests: missing, malformed or tampered signatures -----------------------------------


def sign(server: Server, body: bytes, operation: str = "ListPipelines") -> dict[str, str]:
    request = AWSRequest(
        method="POST",
        url=server.url + "/",
        data=body,
        headers={"Content-Type": CONTENT_TYPE, "X-Amz-Target": f"{PREFIX}.{operation}"},
    )
    credentials = Credentials(ACCESS_KEY_ID, SECRET_ACCESS_KEY)
    SigV4Auth(credentials, "codepipeline", REGION).add_auth(request)
    return dict(request.headers.items())


def test_a_signed_raw_request_is_accepted(server: Server) -> None:
    body = b"{}"
    assert raw_post(server, sign(server, body), body).status_code == 200


def test_no_authorization_header_is_a_missing_token(server: Server) -> None:
    message = assert_403(raw_post(server, {}), "MissingAuthenticationTokenException")
    assert message == "Missing Authentication Token"


def test_no_authorization_create_writes_nothing(server: Server) -> None:
    declaration = two_stage()
    body = json.dumps({"pipeline": declaration}).encode()

    assert_403(raw_post(server, {}, body, "CreatePipeline"), "MissingAuthenticationTokenException")

    assert_not_created(server, declaration["name"])


def now_stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


@pytest.mark.parametrize(
    ("authorization", "fragment"),
    [
        (f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY_ID}", "requires 'Signature' parameter"),
        ("AWS4-HMAC-SHA256", "requires 'Credential' parameter"),
        ("AWS4-HMAC-SHA256 Credential", "missing equal-sign"),
        ("Bearer abc", "requires 'Credential' parameter"),
        (
            f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY_ID}/20240101/us-east-1, "
            "SignedHeaders=host;x-amz-date, Signature=abc",
            "Credential must have exactly 5 slash-delimited elements",
        ),
        (
            "AWS4-HMAC-SHA256 Credential={key}/{day}/us-east-1/codepipeline/aws4_request, "
            "SignedHeaders=x-amz-date, Signature=abc",
            "'Host' or ':authority' must be a 'SignedHeader'",
        ),
        ("AWS4-HMAC-SHA512 Credential=x", "Unsupported AWS 'algorithm'"),
    ],
    ids=[
        "no-signature",
        "no-parameters",
        "no-equals",
        "other-scheme",
        "short-credential",
        "host-unsigned",
        "other-algorithm",
    ],
)
def test_a_malformed_authorization_header_is_an_incomplete_signature(
    server: Server, authorization: str, fragment: str
) -> None:
    stamp = now_stamp()
    header = authorization.format(key=ACCESS_KEY_ID, day=stamp[:8])

    response = raw_post(server, {"Authorization": header, "X-Amz-Date": stamp})

    assert fragment in assert_403(response, "IncompleteSignatureException")


def test_an_authorization_without_a_date_is_an_incomplete_signature(server: Server) -> None:
    headers = sign(server, b"{}")
    headers.pop("X-Amz-Date")

    # httpx adds no Date header, so the signature has no time at all.
    message = assert_403(raw_post(server, headers), "IncompleteSignatureException")
    assert "'X-Amz-Date' or a 'Date' header" in message


def test_a_tampered_body_is_an_invalid_signature_and_writes_nothing(server: Server) -> None:
    signed_for = two_stage()
    sent = two_stage()
    headers = sign(server, json.dumps({"pipeline": signed_for}).encode(), "CreatePipeline")

    response = raw_post(server, headers, json.dumps({"pipeline": sent}).encode(), "CreatePipeline")

    assert_403(response, "InvalidSignatureException")
    assert_not_created(server, sent["name"])
    assert_not_created(server, signed_for["name"])


def test_a_changed_target_is_an_invalid_signature(server: Server) -> None:
    body = json.dumps({"name": "x"}).encode()
    headers = sign(server, body, "DeletePipeline")
    headers["X-Amz-Target"] = f"{PREFIX}.GetPipeline"

    assert_403(raw_post(server, headers, body), "InvalidSignatureException")
