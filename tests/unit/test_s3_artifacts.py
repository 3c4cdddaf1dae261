"""The artifact endpoint's pure parts: S3's signing rules (checked against AWS's own published
example of a chunked upload), aws-chunked bodies, routing, ranges and job credentials."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import logging
import re
import zlib
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from stageline.aws import s3_payload, sigv4
from stageline.aws.s3_artifacts import is_s3_request
from stageline.aws.s3_backends import parse_range, resolve_range
from stageline.aws.s3_wire import RedactPresigned, S3Error, parse_completed_parts
from stageline.persistence.models import Base, Job
from stageline.services import job_credentials

# https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming.html (the PUT example)
EXAMPLE_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
SEED = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
CHUNK_SIGNATURES = (
    "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
    "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
    "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
)
EXAMPLE_HEADERS = {
    "Host": "s3.amazonaws.com",
    "x-amz-date": "20130524T000000Z",
    "x-amz-storage-class": "REDUCED_REDUNDANCY",
    "Authorization": "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/"
    "aws4_request,SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;"
    f"x-amz-date;x-amz-decoded-content-length;x-amz-storage-class,Signature={SEED}",
    "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
    "Content-Encoding": "aws-chunked",
    "x-amz-decoded-content-length": "66560",
    "Content-Length": "66824",
}


def example_body(signatures: tuple[str, ...] = CHUNK_SIGNATURES) -> bytes:
    first, second, last = (s.encode() for s in signatures)
    return (
        b"10000;chunk-signature=" + first + b"\r\n" + b"a" * 65536 + b"\r\n"
        b"400;chunk-signature=" + second + b"\r\n" + b"a" * 1024 + b"\r\n"
        b"0;chunk-signature=" + last + b"\r\n\r\n"
    )


def example_signing() -> s3_payload.ChunkSigning:
    key = sigv4.signing_key(EXAMPLE_SECRET, "20130524", "us-east-1", "s3")
    return s3_payload.ChunkSigning(
        key, "20130524T000000Z", "20130524/us-east-1/s3/aws4_request", SEED
    )


async def pieces(body: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


def receive(body: bytes, headers: Mapping[str, str], mode: str, **kwargs: Any) -> bytes:
    out = io.BytesIO()
    limit = kwargs.pop("limit", 1 << 30)
    piece = kwargs.pop("piece", 1000)
    asyncio.run(s3_payload.receive(pieces(body, piece), out, headers, mode, limit, **kwargs))
    return out.getvalue()


def s3_error(call: Any, *args: Any, **kwargs: Any) -> tuple[str, int]:
    with pytest.raises(S3Error) as info:
        call(*args, **kwargs)
    return info.value.code, info.value.status


# --- S3's SigV4 rules ----------------------------------------------------------------------------


def test_aws_example_seed_signature_verifies() -> None:
    request = sigv4.SignedRequest("PUT", "/examplebucket/chunkObject.txt", "", EXAMPLE_HEADERS, b"")
    credential = sigv4.verify(
        request,
        lambda key: EXAMPLE_SECRET,
        now=datetime(2013, 5, 24, tzinfo=UTC),
        payload_hash="STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
    )
    assert (credential.service, credential.signature, credential.timestamp) == (
        "s3",
        SEED,
        "20130524T000000Z",
    )


@pytest.mark.parametrize("piece", [1, 7, 1000, 70000])
def test_aws_example_signed_chunks_decode(piece: int) -> None:
    body = example_body()
    assert len(body) == 66824  # the example's Content-Length
    data = receive(
        body, EXAMPLE_HEADERS, s3_payload.STREAMING_SIGNED, signing=example_signing(), piece=piece
    )
    assert data == b"a" * 66560


def test_tampered_or_reordered_chunks_are_refused() -> None:
    tampered = example_body().replace(b"a" * 10, b"b" * 10, 1)
    mode, signing = s3_payload.STREAMING_SIGNED, example_signing()
    code = s3_error(receive, tampered, EXAMPLE_HEADERS, mode, signing=signing)
    assert code == ("SignatureDoesNotMatch", 403)
    swapped = (CHUNK_SIGNATURES[1], CHUNK_SIGNATURES[0], CHUNK_SIGNATURES[2])
    code = s3_error(receive, example_body(swapped), EXAMPLE_HEADERS, mode, signing=signing)
    assert code == ("SignatureDoesNotMatch", 403)
    truncated = example_body()[:-40]
    code = s3_error(receive, truncated, EXAMPLE_HEADERS, mode, signing=signing)
    assert code[1] == 400


# --- unsigned aws-chunked with a trailer, and plain bodies -----------------------------------------


def crc32(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def trailer_body(data: bytes, checksum: str, chunk: int = 5) -> bytes:
    frames = b"".join(
        b"%x\r\n%s\r\n" % (len(data[i : i + chunk]), data[i : i + chunk])
        for i in range(0, len(data), chunk)
    )
    return frames + b"0\r\nx-amz-checksum-crc32:" + checksum.encode() + b"\r\n\r\n"


TRAILER_HEADERS = {"x-amz-trailer": "x-amz-checksum-crc32", "x-amz-decoded-content-length": "11"}


def test_unsigned_trailer_body() -> None:
    data = b"hello world"
    body = trailer_body(data, crc32(data))
    mode = s3_payload.STREAMING_UNSIGNED_TRAILER
    assert receive(body, TRAILER_HEADERS, mode, piece=3) == data
    bad = trailer_body(data, crc32(b"other"))
    assert s3_error(receive, bad, TRAILER_HEADERS, mode) == ("BadDigest", 400)
    short = {**TRAILER_HEADERS, "x-amz-decoded-content-length": "12"}
    assert s3_error(receive, body, short, mode) == ("IncompleteBody", 400)
    assert s3_error(receive, body[:-2], TRAILER_HEADERS, mode) == ("IncompleteBody", 400)
    assert s3_error(receive, b"zz\r\n" + body, TRAILER_HEADERS, mode) == ("InvalidRequest", 400)


def test_plain_bodies() -> None:
    data = b"payload"
    digest = hashlib.sha256(data).hexdigest()
    assert receive(data, {"content-length": "7"}, digest) == data
    assert s3_error(receive, data, {}, hashlib.sha256(b"x").hexdigest()) == (
        "XAmzContentSHA256Mismatch",
        400,
    )
    assert receive(data, {}, "UNSIGNED-PAYLOAD") == data
    md5 = base64.b64encode(hashlib.md5(b"x").digest()).decode()
    assert s3_error(receive, data, {"content-md5": md5}, "UNSIGNED-PAYLOAD")[0] == "BadDigest"
    assert s3_error(receive, data, {"x-amz-checksum-crc32": crc32(b"x")}, digest)[0] == "BadDigest"
    assert s3_error(receive, data, {}, "UNSIGNED-PAYLOAD", limit=3) == ("EntityTooLarge", 400)
    assert s3_error(s3_payload.check_mode, "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD") == (
        "NotImplemented",
        501,
    )


# --- routing, ranges, XML --------------------------------------------------------------------------


def scope(headers: dict[str, str] | None = None, query: str = "") -> dict[str, Any]:
    raw = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    return {"type": "http", "headers": raw, "query_string": query.encode()}


def test_routing_by_credential_scope() -> None:
    s3 = "AWS4-HMAC-SHA256 Credential=ASIAX/20240101/us-east-1/s3/aws4_request, SignedHeaders=host"
    assert is_s3_request(scope({"Authorization": s3}))
    assert not is_s3_request(scope({"Authorization": s3.replace("/s3/", "/codepipeline/")}))
    assert not is_s3_request(scope({"Authorization": "Basic dXNlcjpwYXNz"}))
    assert not is_s3_request(scope())
    assert is_s3_request(
        scope(query="X-Amz-Credential=ASIAX%2F20240101%2Feu-west-1%2Fs3%2Faws4_request")
    )
    assert not is_s3_request(
        scope(query="X-Amz-Credential=AKIA%2F20240101%2Fus-east-1%2Fcodepipeline%2Faws4_request")
    )
    # Signature Version 2 (the endpoint refuses it, in S3's terms)
    assert is_s3_request(scope({"Authorization": "AWS ASIAX:c2lnbmF0dXJl"}))
    assert is_s3_request(scope(query="AWSAccessKeyId=ASIAX&Signature=abc&Expires=1"))


def test_ranges() -> None:
    assert parse_range("bytes=0-9") == (0, 9)
    assert parse_range("bytes=5-") == (5, None)
    assert parse_range("bytes=-3") == (None, 3)
    for ignored in (None, "bytes=0-1,4-5", "items=0-1", "bytes=9-2", "bytes=-"):
        assert parse_range(ignored) is None
    assert resolve_range(None, 10) == (0, 9, False)
    assert resolve_range((2, 100), 10) == (2, 9, True)
    assert resolve_range((None, 30), 10) == (0, 9, True)
    assert resolve_range(None, 0) == (0, -1, False)
    assert s3_error(resolve_range, (10, None), 10) == ("InvalidRange", 416)


def test_complete_multipart_document() -> None:
    body = (
        b'<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        b'<Part><ETag>"abc"</ETag><PartNumber>1</PartNumber></Part>'
        b"<Part><PartNumber>2</PartNumber><ETag>def</ETag></Part></CompleteMultipartUpload>"
    )
    assert parse_completed_parts(body) == [(1, "abc"), (2, "def")]
    for bad in (b"<x/>", b"not xml", b'<!DOCTYPE x [<!ENTITY a "b">]><x/>'):
        assert s3_error(parse_completed_parts, bad) == ("MalformedXML", 400)


def test_access_log_never_shows_session_tokens() -> None:
    query = "/b/k?X-Amz-Credential=ASIAX%2F2024&X-Amz-Security-Token=SECRET&X-Amz-Signature=abc"
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:1", "GET", query, "1.1", 200), None,
    )  # fmt: skip
    assert RedactPresigned().filter(record)
    message = record.getMessage()
    assert "SECRET" not in message and "abc" not in message
    assert "X-Amz-Credential=ASIAX%2F2024" in message and "X-Amz-Security-Token=REDACTED" in message


# --- job credentials -------------------------------------------------------------------------------


def artifact(bucket: str, key: str) -> dict[str, Any]:
    return {
        "name": "a",
        "location": {"type": "S3", "s3Location": {"bucketName": bucket, "objectKey": key}},
    }


@pytest.fixture
def session() -> Any:
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        yield session


def job(session: Session, status: str, now: datetime, lifetime: timedelta) -> Job:
    row = Job(
        job_id=f"job-{status}-{lifetime.total_seconds()}", action_pk=1, kind="job",
        category="Build", owner="Custom", provider="P", version="1", status=status,
        data={"inputArtifacts": [artifact("b", "in"), {"name": "odd"}],
              "outputArtifacts": [artifact("b", "out")]},
        created_at=now,
    )  # fmt: skip
    job_credentials.mint(row, now, lifetime)
    session.add(row)
    session.flush()
    return row


def test_minted_credentials_look_like_aws_temporary_ones(session: Session) -> None:
    now = datetime(2024, 1, 1, tzinfo=UTC)
    row = job(session, "Queued", now, timedelta(hours=1))
    assert re.fullmatch(r"ASIA[A-Z0-9]{16}", row.access_key_id or "")
    assert len(row.secret_access_key or "") == 40
    assert row.session_token and len(row.session_token) <= 128
    assert row.credentials_expire_at == now + timedelta(hours=1)
    other = job(session, "InProgress", now, timedelta(hours=2))
    assert other.access_key_id != row.access_key_id
    assert job_credentials.artifact_credentials(row) == {
        "accessKeyId": row.access_key_id,
        "secretAccessKey": row.secret_access_key,
        "sessionToken": row.session_token,
    }


def test_grants(session: Session) -> None:
    now = datetime(2024, 1, 1, tzinfo=UTC)
    live = job(session, "InProgress", now, timedelta(hours=1))
    grant = job_credentials.grant_for(session, live.access_key_id or "", now)
    assert grant is not None and grant.job_id == live.job_id
    assert grant.may_read("b", "in") and grant.may_read("b", "out")
    assert grant.may_write("b", "out") and not grant.may_write("b", "in")
    assert not grant.may_read("b", "other") and not grant.may_read("c", "in")
    assert grant.token_matches(live.session_token) and not grant.token_matches("x")
    assert not grant.token_matches(None)

    later = job_credentials.grant_for(session, live.access_key_id or "", now + timedelta(hours=1))
    assert later is not None and later.expired and not later.may_read("b", "in")
    for status in ("Succeeded", "Failed", "TimedOut"):
        done = job(session, status, now, timedelta(hours=1))
        finished = job_credentials.grant_for(session, done.access_key_id or "", now)
        assert finished is not None and finished.finished and not finished.may_read("b", "in")
    assert job_credentials.grant_for(session, "ASIA" + "0" * 16, now) is None
    assert job_credentials.grant_for(session, "AKIAROOTKEY", now) is None
