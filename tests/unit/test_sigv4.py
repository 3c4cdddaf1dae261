"""SigV4 verification against requests signed by botocore's real signers."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock
from urllib.parse import urlsplit

import pytest
from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth, SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from starlette.datastructures import Headers

from stageline.aws.sigv4 import SignedRequest, VerifiedCredential, verify
from stageline.domain.errors import ServiceError

AKID = "AKIDEXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
SIGNED_AT = datetime(2024, 1, 1, 0, 30, 0)  # naive UTC, as botocore uses it
NOW = SIGNED_AT.replace(tzinfo=UTC)
ENDPOINT = "http://localhost:8080"
MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check your "
    "AWS Secret Access Key and signing method. Consult the service documentation for details."
)


def lookup(access_key_id: str) -> str | None:
    return SECRET if access_key_id == AKID else None


@pytest.fixture(autouse=True)
def frozen_signer_clock() -> Iterator[None]:
    with mock.patch("botocore.auth.get_current_datetime", lambda *a, **k: SIGNED_AT):
        yield


def to_wire(request: AWSRequest) -> SignedRequest:
    """What the server sees: the prepared request's URL, headers (plus Host) and body."""
    prepared = request.prepare()
    url = urlsplit(prepared.url)
    headers = {**dict(prepared.headers.items()), "Host": url.netloc}
    body = prepared.body or b""
    assert isinstance(body, bytes)
    return SignedRequest(prepared.method, url.path or "/", url.query, headers, body)


def sign(
    method: str,
    url: str,
    *,
    data: bytes = b"",
    headers: Mapping[str, str] | None = None,
    params: Any = None,
    secret: str = SECRET,
    service: str = "codepipeline",
    region: str = "us-east-1",
) -> SignedRequest:
    request = AWSRequest(method=method, url=url, data=data, headers=dict(headers or {}))
    if params is not None:
        request.params = params
    signer = S3SigV4Auth if service == "s3" else SigV4Auth
    signer(Credentials(AKID, secret), service, region).add_auth(request)
    return to_wire(request)


def presign(url: str, *, expires: int = 300, service: str = "codepipeline") -> SignedRequest:
    request = AWSRequest(method="GET", url=url)
    SigV4QueryAuth(Credentials(AKID, SECRET), service, "eu-west-1", expires=expires).add_auth(
        request
    )
    return to_wire(request)


def json_call() -> SignedRequest:
    body = json.dumps({"name": "my-pipeline"}).encode()
    headers = {
        "X-Amz-Target": "CodePipeline_20150709.GetPipeline",
        "Content-Type": "application/x-amz-json-1.1",
        "User-Agent": "aws-cli/2.15 Python/3.11",
    }
    return sign("POST", ENDPOINT + "/", data=body, headers=headers)


def with_headers(request: SignedRequest, **changes: str | None) -> SignedRequest:
    headers = dict(request.headers)
    for name, value in changes.items():
        name = name.replace("_", "-")
        match = next((k for k in headers if k.lower() == name.lower()), name)
        headers.pop(match, None)
        if value is not None:
            headers[match] = value
    return dataclasses.replace(request, headers=headers)


def rejected(request: SignedRequest, code: str, now: datetime = NOW) -> ServiceError:
    with pytest.raises(ServiceError) as caught:
        verify(request, lookup, now=now)
    assert caught.value.code == code
    assert caught.value.status == 403
    return caught.value


# --- requests that verify ------------------------------------------------------------------


def test_json_1_1_post_with_target_verifies() -> None:
    request = json_call()
    assert "x-amz-target" in request.headers["Authorization"]
    assert verify(request, lookup, now=NOW) == VerifiedCredential(AKID, "us-east-1", "codepipeline")


def test_header_names_are_case_insensitive() -> None:
    request = json_call()
    lowered = {k.lower(): v for k, v in request.headers.items()}
    upper = {k.upper(): v for k, v in request.headers.items()}
    assert verify(dataclasses.replace(request, headers=lowered), lookup, now=NOW)
    assert verify(dataclasses.replace(request, headers=upper), lookup, now=NOW)


def test_naive_now_is_taken_as_utc() -> None:
    assert verify(json_call(), lookup, now=SIGNED_AT)


def test_query_with_special_characters_and_repeated_keys() -> None:
    params = [
        ("filter", "a b+c/d&e=f~g*h"),
        ("tag", "zeta"),
        ("tag", "alpha"),
        ("name", "café ünïcode"),
        ("empty", ""),
    ]
    request = sign("GET", ENDPOINT + "/api/v1/pipelines", params=params, service="stageline")
    assert "+" in request.query and "tag=zeta&tag=alpha" in request.query  # wire keeps order
    assert verify(request, lookup, now=NOW).service == "stageline"


def test_query_already_percent_encoded_in_url() -> None:
    # botocore's own serialisers put the encoded query straight into the URL.
    url = ENDPOINT + "/api/v1/pipelines?next=a%20b%2Fc&max=10&b=%2A&b=~"
    assert verify(sign("GET", url, service="stageline"), lookup, now=NOW)


def test_percent_encoded_path_verifies_and_is_double_encoded() -> None:
    request = sign("GET", ENDPOINT + "/api/v1/pipelines/a%20b%2Fc/runs", service="stageline")
    assert request.path == "/api/v1/pipelines/a%20b%2Fc/runs"
    assert verify(request, lookup, now=NOW)
    # Passing the *decoded* path (ASGI scope["path"]) instead of the raw one cannot verify.
    decoded = dataclasses.replace(request, path="/api/v1/pipelines/a b/c/runs")
    assert rejected(decoded, "InvalidSignatureException").message == MISMATCH


def test_dot_segments_and_double_slashes_are_normalised() -> None:
    assert verify(sign("GET", ENDPOINT + "/api//v1/./x/../pipelines/"), lookup, now=NOW)


def test_s3_path_is_signed_as_sent() -> None:
    request = sign("PUT", ENDPOINT + "/bucket/a%20b//c", data=b"blob", service="s3")
    assert verify(request, lookup, now=NOW).service == "s3"


def test_date_header_instead_of_x_amz_date() -> None:
    request = sign("GET", ENDPOINT + "/", headers={"Date": "Mon, 01 Jan 2024 00:00:00 GMT"})
    assert "X-Amz-Date" not in request.headers
    assert verify(request, lookup, now=NOW)


def test_declared_payload_hash_is_checked_against_the_body() -> None:
    request = sign("PUT", ENDPOINT + "/bucket/key", data=b"blob", service="s3")
    assert "X-Amz-Content-SHA256" in request.headers
    assert verify(request, lookup, now=NOW)
    error = rejected(dataclasses.replace(request, body=b"evil"), "InvalidSignatureException")
    assert "x-amz-content-sha256" in error.message


def test_session_token_is_just_another_signed_header() -> None:
    request = AWSRequest(method="POST", url=ENDPOINT + "/", data=b"{}")
    SigV4Auth(Credentials(AKID, SECRET, "session-token"), "codepipeline", "us-east-1").add_auth(
        request
    )
    wire = to_wire(request)
    assert "x-amz-security-token" in wire.headers["Authorization"]
    assert verify(wire, lookup, now=NOW)


def test_repeated_headers_from_asgi_are_joined_like_botocore() -> None:
    # email.message semantics: assigning twice adds a second value, which botocore signs as
    # "a,b c" (each value trimmed, then comma-joined). ASGI hands both over as raw pairs.
    request = AWSRequest(method="GET", url=ENDPOINT + "/")
    request.headers["X-Custom"] = "a"
    request.headers["X-Custom"] = "  b   c "
    SigV4Auth(Credentials(AKID, SECRET), "codepipeline", "us-east-1").add_auth(request)
    raw = [(k.lower().encode(), v.encode()) for k, v in request.headers.items()]
    headers = Headers(raw=[*raw, (b"host", b"localhost:8080")])
    assert verify(SignedRequest("GET", "/", "", headers, b""), lookup, now=NOW)
    swapped = Headers(raw=[*reversed(raw), (b"host", b"localhost:8080")])
    rejected(SignedRequest("GET", "/", "", swapped, b""), "InvalidSignatureException")


def test_presigned_url_verifies() -> None:
    request = presign(ENDPOINT + "/api/v1/pipelines?name=a%20b")
    assert "X-Amz-Signature=" in request.query and "Authorization" not in request.headers
    credential = verify(request, lookup, now=NOW + timedelta(seconds=299))
    assert credential == VerifiedCredential(AKID, "eu-west-1", "codepipeline")


def test_presigned_s3_url_uses_unsigned_payload() -> None:
    request = AWSRequest(method="GET", url=ENDPOINT + "/bucket/key")
    S3SigV4QueryAuth(Credentials(AKID, SECRET), "s3", "us-east-1").add_auth(request)
    assert verify(to_wire(request), lookup, now=NOW).service == "s3"


# --- failures -------------------------------------------------------------------------------


def test_missing_authentication() -> None:
    request = with_headers(json_call(), Authorization=None)
    error = rejected(request, "MissingAuthenticationTokenException")
    assert error.message == "Missing Authentication Token"


def test_tampered_body() -> None:
    request = dataclasses.replace(json_call(), body=b'{"name": "other"}')
    assert rejected(request, "InvalidSignatureException").message == MISMATCH


def test_tampered_header() -> None:
    request = with_headers(json_call(), X_Amz_Target="CodePipeline_20150709.DeletePipeline")
    assert rejected(request, "InvalidSignatureException").message == MISMATCH


def test_tampered_query() -> None:
    request = sign("GET", ENDPOINT + "/api/v1/pipelines?max=10", service="stageline")
    assert rejected(dataclasses.replace(request, query="max=11"), "InvalidSignatureException")


def test_unsigned_user_agent_may_change() -> None:
    # botocore never signs User-Agent (nor Expect, Connection, ...), so proxies may rewrite it.
    assert verify(with_headers(json_call(), User_Agent="proxy/1.0"), lookup, now=NOW)


def test_signed_header_missing_from_request() -> None:
    request = with_headers(json_call(), Content_Type=None)
    assert rejected(request, "InvalidSignatureException").message == MISMATCH


def test_wrong_secret() -> None:
    request = sign("GET", ENDPOINT + "/", secret="not-the-secret")
    assert rejected(request, "InvalidSignatureException").message == MISMATCH


def test_unknown_access_key() -> None:
    request = json_call()
    auth = request.headers["Authorization"].replace(AKID, "AKIDUNKNOWN")
    error = rejected(with_headers(request, Authorization=auth), "UnrecognizedClientException")
    assert error.message == "The security token included in the request is invalid."


def test_expired_signature() -> None:
    error = rejected(json_call(), "InvalidSignatureException", now=NOW + timedelta(minutes=30))
    assert error.message == (
        "Signature expired: 20240101T003000Z is now earlier than 20240101T004500Z "
        "(20240101T010000Z - 15 min.)"
    )


def test_signature_from_the_future() -> None:
    error = rejected(json_call(), "InvalidSignatureException", now=NOW - timedelta(minutes=16))
    assert error.message == (
        "Signature not yet current: 20240101T003000Z is still later than 20240101T002900Z "
        "(20240101T001400Z + 15 min.)"
    )


def test_within_skew_is_accepted() -> None:
    assert verify(json_call(), lookup, now=NOW + timedelta(minutes=14, seconds=59))
    assert verify(json_call(), lookup, now=NOW - timedelta(minutes=14, seconds=59))


def test_missing_date() -> None:
    error = rejected(with_headers(json_call(), X_Amz_Date=None), "IncompleteSignatureException")
    assert "requires existence of either a 'X-Amz-Date' or a 'Date' header" in error.message


def test_malformed_date() -> None:
    request = with_headers(json_call(), X_Amz_Date="2024-01-01T00:30:00Z")
    error = rejected(request, "IncompleteSignatureException")
    assert error.message.startswith("Date must be in ISO-8601 'basic format'.")


@pytest.mark.parametrize(
    ("authorization", "expected"),
    [
        (
            "AWS4-HMAC-SHA256 Credential={akid}/20240101/us-east-1/codepipeline/aws4_request, "
            "SignedHeaders=host;x-amz-date",
            "Authorization header requires 'Signature' parameter.",
        ),
        (
            "AWS4-HMAC-SHA256 Credential= {akid}/20240101/us-east-1/codepipeline/aws4_request, "
            "SignedHeaders=host;x-amz-date, Signature=abc",
            "not a valid key=value pair (missing equal-sign) in Authorization header",
        ),
        (
            "AWS4-HMAC-SHA256 Credential={akid}/20240101/us-east-1/aws4_request, "
            "SignedHeaders=host;x-amz-date, Signature=abc",
            "Credential must have exactly 5 slash-delimited elements",
        ),
        (
            "AWS4-HMAC-SHA256 Credential={akid}/20240101/us-east-1/codepipeline/aws5_request, "
            "SignedHeaders=host;x-amz-date, Signature=abc",
            "Credential should be scoped with a valid terminator: 'aws4_request', not 'aws5_request'.",
        ),
        (
            "AWS4-HMAC-SHA512 Credential={akid}/20240101/us-east-1/codepipeline/aws4_request, "
            "SignedHeaders=host;x-amz-date, Signature=abc",
            "Unsupported AWS 'algorithm': 'AWS4-HMAC-SHA512'.",
        ),
        (
            "AWS {akid}:c2lnbmF0dXJl",
            "Authorization header requires 'Credential' parameter. Authorization header requires "
            "'Signature' parameter. Authorization header requires 'SignedHeaders' parameter.",
        ),
        (
            "AWS4-HMAC-SHA256 Credential={akid}/20240101/us-east-1/codepipeline/aws4_request, "
            "SignedHeaders=x-amz-date, Signature=abc",
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
        ),
    ],
)
def test_malformed_authorization_header(authorization: str, expected: str) -> None:
    request = with_headers(json_call(), Authorization=authorization.format(akid=AKID))
    assert expected in rejected(request, "IncompleteSignatureException").message


def test_scope_date_must_match_request_date() -> None:
    # Signed 23:59:59, X-Amz-Date then moved past midnight: still within skew, wrong scope day.
    with mock.patch(
        "botocore.auth.get_current_datetime", lambda *a, **k: datetime(2024, 1, 1, 23, 59, 59)
    ):
        request = sign("GET", ENDPOINT + "/")
    moved = with_headers(request, X_Amz_Date="20240102T000001Z")
    error = rejected(
        moved, "InvalidSignatureException", now=datetime(2024, 1, 2, 0, 0, 1, tzinfo=UTC)
    )
    assert error.message == (
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from "
        "HTTP: '20240101' != '20240102', from '20240102T000001Z'."
    )


def test_presigned_expired() -> None:
    request = presign(ENDPOINT + "/api/v1/pipelines", expires=60)
    error = rejected(request, "InvalidSignatureException", now=NOW + timedelta(seconds=61))
    assert error.message == "Request has expired"


def test_presigned_tampered_query() -> None:
    request = presign(ENDPOINT + "/api/v1/pipelines?name=a")
    tampered = dataclasses.replace(request, query=request.query.replace("name=a", "name=b"))
    assert rejected(tampered, "InvalidSignatureException").message == MISMATCH


def test_presigned_missing_parameter() -> None:
    request = presign(ENDPOINT + "/api/v1/pipelines")
    query = "&".join(p for p in request.query.split("&") if not p.startswith("X-Amz-Expires="))
    error = rejected(dataclasses.replace(request, query=query), "IncompleteSignatureException")
    assert "requires the X-Amz-Algorithm" in error.message


def test_presigned_expires_over_a_week() -> None:
    request = presign(ENDPOINT + "/api/v1/pipelines", expires=604801)
    error = rejected(request, "IncompleteSignatureException")
    assert "at most 604800" in error.message


def test_presigned_unknown_key() -> None:
    request = presign(ENDPOINT + "/api/v1/pipelines")
    query = request.query.replace(AKID, "AKIDUNKNOWN")
    rejected(dataclasses.replace(request, query=query), "UnrecognizedClientException")
