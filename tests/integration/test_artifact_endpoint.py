"""The artifact endpoint job workers use: a real boto3 S3 client, signing with a job's temporary
credentials, against Stageline over real HTTP.

Most tests drive the app in this process (uvicorn in a thread, a real SQLite database, Job rows
made directly) over both artifact stores: a folder (embedded mode) and moto's S3 server
(production). One test drives a real `stageline serve` process.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
import threading
import time
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
import uvicorn
from boto3.s3.transfer import TransferConfig
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from tests.support.moto_server import moto_s3_server, s3_env
from tests.support.servers import (
    ACCESS_KEY_ID,
    REGION,
    SECRET_ACCESS_KEY,
    free_port,
    running_server,
)

from stageline.app import create_app
from stageline.artifacts.base import ObjectStore
from stageline.artifacts.folder import FolderStore
from stageline.artifacts.s3 import S3Store
from stageline.aws import sigv4
from stageline.persistence import migrate
from stageline.persistence.db import Database
from stageline.persistence.models import ActionExecution, Job, Pipeline, PipelineExecution
from stageline.runtime import Runtime
from stageline.services import job_credentials
from stageline.settings import Settings

BUCKET = "stageline-artifacts"
MiB = 1024 * 1024


@dataclass
class Endpoint:
    kind: str  # folder | s3
    url: str
    app: Any
    db: Database
    store: ObjectStore
    public_host: str
    port: int

    def put(self, bucket: str, key: str, data: bytes) -> None:
        self.store.ensure_bucket(bucket)
        self.store.put_bytes(bucket, key, data)

    def read(self, bucket: str, key: str, tmp: Path) -> bytes:
        dest = tmp / uuid.uuid4().hex
        self.store.get_file(bucket, key, dest)
        return dest.read_bytes()


@dataclass
class Creds:
    key: str
    secret: str
    token: str
    job_id: str


@contextmanager
def serving(app: Any, port: int, ssl: tuple[str, str] | None = None) -> Iterator[str]:
    """uvicorn in a thread (no lifespan: the test owns the runtime)."""
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", lifespan="off", timeout_graceful_shutdown=1,
        ssl_certfile=ssl[0] if ssl else None, ssl_keyfile=ssl[1] if ssl else None,
    )  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"{'https' if ssl else 'http'}://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def make_runtime(data_dir: Path, port: int, **settings: Any) -> Runtime:
    config = Settings(
        data_dir=data_dir,
        root_access_key_id=ACCESS_KEY_ID,
        root_secret_access_key=SECRET_ACCESS_KEY,
        public_url=f"http://stageline.test:{port}",
        validate_responses=True,
        **settings,
    )
    migrate.upgrade(config.resolved_database_url)
    return Runtime.from_settings(config, role="tool")


@pytest.fixture(scope="module", params=["folder", "s3"])
def endpoint(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Endpoint]:
    data_dir = tmp_path_factory.mktemp(f"artifacts-{request.param}")
    port = free_port()
    if request.param == "folder":
        runtime = make_runtime(data_dir, port)
        store: ObjectStore = FolderStore(runtime.settings.artifacts_dir)
        app = create_app(runtime)
        with serving(app, port) as url:
            yield Endpoint(request.param, url, app, runtime.db, store, "stageline.test", port)
        runtime.close()
        return
    with moto_s3_server() as moto_url, pytest.MonkeyPatch.context() as patch:
        for name, value in s3_env(moto_url).items():
            patch.setenv(name, value)
        runtime = make_runtime(data_dir, port, artifact_store="s3")
        store = S3Store(boto3.client("s3", endpoint_url=moto_url, region_name=REGION))
        app = create_app(runtime)
        with serving(app, port) as url:
            yield Endpoint(request.param, url, app, runtime.db, store, "stageline.test", port)
        runtime.close()


def make_job(
    db: Database,
    inputs: list[tuple[str, str]],
    outputs: list[tuple[str, str]],
    *,
    status: str = "InProgress",
    lifetime: timedelta = timedelta(hours=1),
) -> Creds:
    """A Job row (with the pipeline, execution and attempt it belongs to) and its credentials."""

    def artifacts(refs: list[tuple[str, str]]) -> list[dict[str, Any]]:
        return [
            {
                "name": f"A{i}",
                "location": {"type": "S3", "s3Location": {"bucketName": b, "objectKey": k}},
            }
            for i, (b, k) in enumerate(refs)
        ]

    now = datetime.now(UTC)
    with db.unit_of_work() as uow:
        session = uow.session
        pipeline = Pipeline(
            name=f"p-{uuid.uuid4().hex[:12]}", version=1, pipeline_type="V2",
            execution_mode="SUPERSEDED", created_at=now, updated_at=now,
        )  # fmt: skip
        session.add(pipeline)
        session.flush()
        execution = PipelineExecution(
            execution_id=str(uuid.uuid4()), pipeline_id=pipeline.id, pipeline_version=1,
            status="Succeeded", execution_mode="SUPERSEDED", trigger_type="StartPipelineExecution",
            waiting=False, created_at=now, updated_at=now,
        )  # fmt: skip
        session.add(execution)
        session.flush()
        action = ActionExecution(
            action_execution_id=str(uuid.uuid4()), execution_pk=execution.pk,
            pipeline_id=pipeline.id, stage_name="Build", action_name="Worker", stage_attempt=1,
            run_order=1, status="Succeeded", timeout_at=now, started_at=now, updated_at=now,
        )  # fmt: skip
        session.add(action)
        session.flush()
        job = Job(
            job_id=str(uuid.uuid4()), action_pk=action.pk, kind="job", category="Build",
            owner="Custom", provider="ArtifactWorker", version="1", status=status,
            data={"inputArtifacts": artifacts(inputs), "outputArtifacts": artifacts(outputs)},
            created_at=now,
        )  # fmt: skip
        job_credentials.mint(job, now, lifetime)
        session.add(job)
        credentials = job_credentials.artifact_credentials(job)
    return Creds(
        credentials["accessKeyId"], credentials["secretAccessKey"], credentials["sessionToken"],
        job.job_id,
    )  # fmt: skip


def worker_s3(
    url: str, creds: Creds, *, secret: str | None = None, token: str | None = None, **config: Any
) -> Any:
    """The S3 client a job worker makes from its artifactCredentials."""
    return boto3.client(
        "s3",
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id=creds.key,
        aws_secret_access_key=secret or creds.secret,
        aws_session_token=token or creds.token,
        verify=False,
        config=Config(retries={"max_attempts": 1}, signature_version="s3v4", **config),
    )


def refused(call: Any, **params: Any) -> tuple[str, int]:
    with pytest.raises(ClientError) as info:
        call(**params)
    response = info.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def keys() -> tuple[str, str]:
    run = uuid.uuid4().hex[:8]
    return f"p/{run}/Source/in.zip", f"p/{run}/Build/out.zip"


# --- downloads ----------------------------------------------------------------------------------


def test_worker_downloads_its_input_artifact(endpoint: Endpoint, tmp_path: Path) -> None:
    source, output = keys()
    endpoint.put(BUCKET, source, b"zip bytes \x00\xff")
    creds = make_job(endpoint.db, [(BUCKET, source)], [(BUCKET, output)])
    s3 = worker_s3(endpoint.url, creds)

    content = b"zip bytes \x00\xff"
    got = s3.get_object(Bucket=BUCKET, Key=source)
    assert got["Body"].read() == content
    assert got["ETag"] == f'"{hashlib.md5(content).hexdigest()}"'
    head = s3.head_object(Bucket=BUCKET, Key=source)
    assert head["ContentLength"] == 12 and head["ETag"] == got["ETag"]

    ranged = s3.get_object(Bucket=BUCKET, Key=source, Range="bytes=4-8")
    assert ranged["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert ranged["ContentRange"] == "bytes 4-8/12" and ranged["Body"].read() == b"bytes"
    suffix = s3.get_object(Bucket=BUCKET, Key=source, Range="bytes=-3")
    assert suffix["ContentRange"] == "bytes 9-11/12" and suffix["Body"].read() == b" \x00\xff"
    assert refused(s3.get_object, Bucket=BUCKET, Key=source, Range="bytes=50-") == (
        "InvalidRange",
        416,
    )


def test_large_download_in_ranges(endpoint: Endpoint, tmp_path: Path) -> None:
    source, output = keys()
    data = os.urandom(20 * MiB + 123)
    endpoint.put(BUCKET, source, data)
    s3 = worker_s3(endpoint.url, make_job(endpoint.db, [(BUCKET, source)], [(BUCKET, output)]))
    dest = tmp_path / "in.zip"
    s3.download_file(BUCKET, source, str(dest))  # s3transfer: HeadObject, ranged GETs with IfMatch
    assert hashlib.sha256(dest.read_bytes()).digest() == hashlib.sha256(data).digest()


# --- uploads ------------------------------------------------------------------------------------


def test_worker_uploads_its_output_artifact(endpoint: Endpoint, tmp_path: Path) -> None:
    source, output = keys()
    creds = make_job(endpoint.db, [(BUCKET, source)], [(BUCKET, output)])
    endpoint.store.ensure_bucket(BUCKET)
    s3 = worker_s3(endpoint.url, creds)

    put = s3.put_object(Bucket=BUCKET, Key=output, Body=b"first", ContentType="application/zip")
    assert put["ETag"] == f'"{hashlib.md5(b"first").hexdigest()}"'
    assert endpoint.read(BUCKET, output, tmp_path) == b"first"

    small = tmp_path / "out.zip"
    small.write_bytes(b"second" * 1000)
    s3.upload_file(str(small), BUCKET, output)
    assert endpoint.read(BUCKET, output, tmp_path) == b"second" * 1000
    # The worker may read its output back; and see it as it is.
    assert s3.get_object(Bucket=BUCKET, Key=output)["Body"].read() == b"second" * 1000


def test_multipart_upload(endpoint: Endpoint, tmp_path: Path) -> None:
    source, output = keys()
    second = output + ".2"
    creds = make_job(endpoint.db, [(BUCKET, source)], [(BUCKET, output), (BUCKET, second)])
    endpoint.store.ensure_bucket(BUCKET)
    s3 = worker_s3(endpoint.url, creds)
    data = os.urandom(13 * MiB + 7)
    big = tmp_path / "big.zip"
    big.write_bytes(data)
    s3.upload_file(str(big), BUCKET, output, Config=TransferConfig(multipart_chunksize=5 * MiB))
    assert endpoint.read(BUCKET, output, tmp_path) == data

    upload = s3.create_multipart_upload(Bucket=BUCKET, Key=output)["UploadId"]
    aborted = s3.abort_multipart_upload(Bucket=BUCKET, Key=output, UploadId=upload)
    assert aborted["ResponseMetadata"]["HTTPStatusCode"] == 204
    if endpoint.kind == "folder":  # (moto answers a part of an aborted upload with a 500)
        part = {"Bucket": BUCKET, "Key": output, "UploadId": upload, "PartNumber": 1}
        assert refused(s3.upload_part, **part, Body=b"x") == ("NoSuchUpload", 404)
        assert refused(s3.upload_part, **{**part, "UploadId": "../../etc"}, Body=b"x") == (
            "NoSuchUpload",
            404,
        )
        # An upload id is good for its own key only.
        other = s3.create_multipart_upload(Bucket=BUCKET, Key=output)["UploadId"]
        moved = {**part, "UploadId": other, "Key": second}
        assert refused(s3.upload_part, **moved, Body=b"x") == ("NoSuchUpload", 404)
    small_parts = s3.create_multipart_upload(Bucket=BUCKET, Key=output)["UploadId"]
    etags = [
        s3.upload_part(Bucket=BUCKET, Key=output, UploadId=small_parts, PartNumber=n, Body=b"tiny")[
            "ETag"
        ]
        for n in (1, 2)
    ]
    parts = [{"PartNumber": n, "ETag": etag} for n, etag in zip((1, 2), etags, strict=True)]
    complete = {"Bucket": BUCKET, "Key": output, "UploadId": small_parts}
    assert (
        refused(s3.complete_multipart_upload, **complete, MultipartUpload={"Parts": parts})[0]
        == "EntityTooSmall"
    )
    assert endpoint.read(BUCKET, output, tmp_path) == data


def test_https_streaming_payloads(endpoint: Endpoint, tmp_path: Path) -> None:
    """Over https boto3 sends STREAMING-UNSIGNED-PAYLOAD-TRAILER: aws-chunked, a CRC32 trailer."""
    pytest.importorskip("cryptography")
    certfile, keyfile = self_signed(tmp_path)
    source, output = keys()
    creds = make_job(endpoint.db, [(BUCKET, source)], [(BUCKET, output)])
    endpoint.store.ensure_bucket(BUCKET)
    with warnings.catch_warnings(), serving(endpoint.app, free_port(), (certfile, keyfile)) as url:
        warnings.simplefilter("ignore")
        s3 = worker_s3(url, creds)
        modes: list[str] = []
        s3.meta.events.register(
            "before-send.s3",
            lambda request, **_: modes.append(request.headers["X-Amz-Content-SHA256"].decode()),
        )
        s3.put_object(Bucket=BUCKET, Key=output, Body=b"over tls")
        assert modes == ["STREAMING-UNSIGNED-PAYLOAD-TRAILER"]
        assert endpoint.read(BUCKET, output, tmp_path) == b"over tls"
        data = os.urandom(11 * MiB)
        big = tmp_path / "big.zip"
        big.write_bytes(data)
        s3.upload_file(str(big), BUCKET, output)
        assert endpoint.read(BUCKET, output, tmp_path) == data
        # A checksum that does not match the body is BadDigest (and nothing is written).
        wrong = {"Bucket": BUCKET, "Key": output, "Body": b"tampered", "ChecksumCRC32": "AAAAAA=="}
        assert refused(s3.put_object, **wrong) == ("BadDigest", 400)
        assert endpoint.read(BUCKET, output, tmp_path) == data
        assert "STREAMING-UNSIGNED-PAYLOAD-TRAILER" in modes[-4:-1]  # the parts


class _SignedChunksAuth(S3SigV4Auth):
    """botocore's S3 signer, declaring STREAMING-AWS4-HMAC-SHA256-PAYLOAD (as the Java SDK
    does) instead of hashing the body."""

    def payload(self, request: Any) -> str:
        return "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"


def signed_chunks_put(
    url: str, creds: Creds, data: bytes, *, tamper: bool = False
) -> httpx.Response:
    request = AWSRequest(
        "PUT", url, headers={"Content-Encoding": "aws-chunked",
                             "x-amz-decoded-content-length": str(len(data))},
    )  # fmt: skip
    _SignedChunksAuth(Credentials(creds.key, creds.secret, creds.token), "s3", REGION).add_auth(
        request
    )
    timestamp = request.headers["X-Amz-Date"]
    scope = f"{timestamp[:8]}/{REGION}/s3/aws4_request"
    key = sigv4.signing_key(creds.secret, timestamp[:8], REGION, "s3")
    previous = request.headers["Authorization"].rpartition("Signature=")[2]
    body = b""
    for chunk in [data[i : i + 64 * 1024] for i in range(0, len(data), 64 * 1024)] + [b""]:
        to_sign = "\n".join(
            ("AWS4-HMAC-SHA256-PAYLOAD", timestamp, scope, previous,
             hashlib.sha256(b"").hexdigest(), hashlib.sha256(chunk).hexdigest())
        )  # fmt: skip
        previous = hmac.new(key, to_sign.encode(), "sha256").hexdigest()
        sent = chunk.replace(b"a", b"b") if tamper else chunk
        body += b"%x;chunk-signature=%s\r\n%s\r\n" % (len(chunk), previous.encode(), sent)
    return httpx.put(url, headers=dict(request.headers.items()), content=body)


def test_signed_chunk_uploads(endpoint: Endpoint, tmp_path: Path) -> None:
    source, output = keys()
    creds = make_job(endpoint.db, [(BUCKET, source)], [(BUCKET, output)])
    endpoint.store.ensure_bucket(BUCKET)
    data = b"a" * (200 * 1024 + 17)
    response = signed_chunks_put(f"{endpoint.url}/{BUCKET}/{output}", creds, data)
    assert response.status_code == 200, response.text
    assert response.headers["etag"] == f'"{hashlib.md5(data).hexdigest()}"'
    assert endpoint.read(BUCKET, output, tmp_path) == data
    tampered = signed_chunks_put(f"{endpoint.url}/{BUCKET}/{output}", creds, data, tamper=True)
    assert tampered.status_code == 403 and "<Code>SignatureDoesNotMatch</Code>" in tampered.text
    assert endpoint.read(BUCKET, output, tmp_path) == data


# --- what the credentials do not allow -----------------------------------------------------------


def test_only_the_jobs_own_objects(endpoint: Endpoint, tmp_path: Path) -> None:
    source, output = keys()
    other_source, _ = keys()
    endpoint.put(BUCKET, source, b"mine")
    endpoint.put(BUCKET, other_source, b"someone else's")
    endpoint.put("another-bucket", source, b"elsewhere")
    s3 = worker_s3(endpoint.url, make_job(endpoint.db, [(BUCKET, source)], [(BUCKET, output)]))

    assert refused(s3.get_object, Bucket=BUCKET, Key=other_source) == ("AccessDenied", 403)
    assert refused(s3.get_object, Bucket="another-bucket", Key=source) == ("AccessDenied", 403)
    assert refused(s3.head_object, Bucket=BUCKET, Key=other_source) == ("403", 403)
    # Inputs are read-only; nothing but the outputs may be written.
    assert refused(s3.put_object, Bucket=BUCKET, Key=source, Body=b"x") == ("AccessDenied", 403)
    assert refused(s3.put_object, Bucket=BUCKET, Key=output + "2", Body=b"x") == (
        "AccessDenied",
        403,
    )
    assert refused(s3.create_multipart_upload, Bucket=BUCKET, Key=source) == ("AccessDenied", 403)
    # Outside the subset altogether.
    assert refused(s3.list_objects_v2, Bucket=BUCKET) == ("NotImplemented", 501)
    assert refused(s3.delete_object, Bucket=BUCKET, Key=output) == ("NotImplemented", 501)
    copy = {"Bucket": BUCKET, "Key": output, "CopySource": f"{BUCKET}/{source}"}
    assert refused(s3.copy_object, **copy) == ("NotImplemented", 501)
    assert endpoint.read(BUCKET, source, tmp_path) == b"mine"


def test_bad_credentials(endpoint: Endpoint) -> None:
    source, output = keys()
    endpoint.put(BUCKET, source, b"data")
    creds = make_job(endpoint.db, [(BUCKET, source)], [(BUCKET, output)])
    get = {"Bucket": BUCKET, "Key": source}

    wrong_secret = worker_s3(endpoint.url, creds, secret="x" * 40)
    assert refused(wrong_secret.get_object, **get) == ("SignatureDoesNotMatch", 403)
    assert refused(wrong_secret.put_object, Bucket=BUCKET, Key=output, Body=b"x") == (
        "SignatureDoesNotMatch",
        403,
    )
    unknown = Creds("ASIA" + "Z" * 16, creds.secret, creds.token, creds.job_id)
    assert refused(worker_s3(endpoint.url, unknown).get_object, **get) == (
        "InvalidAccessKeyId",
        403,
    )
    root = Creds(ACCESS_KEY_ID, SECRET_ACCESS_KEY, creds.token, creds.job_id)
    assert refused(worker_s3(endpoint.url, root).get_object, **get) == ("InvalidAccessKeyId", 403)
    wrong_token = worker_s3(endpoint.url, creds, token="not-the-token")
    assert refused(wrong_token.get_object, **get) == ("InvalidToken", 400)
    no_token = boto3.client(
        "s3", endpoint_url=endpoint.url, region_name=REGION, aws_access_key_id=creds.key,
        aws_secret_access_key=creds.secret, config=Config(signature_version="s3v4"),
    )  # fmt: skip
    assert refused(no_token.get_object, **get) == ("InvalidToken", 400)


def test_expired_credentials_and_finished_jobs(endpoint: Endpoint) -> None:
    source, output = keys()
    endpoint.put(BUCKET, source, b"data")
    expired = make_job(
        endpoint.db, [(BUCKET, source)], [(BUCKET, output)], lifetime=-timedelta(seconds=1)
    )
    s3 = worker_s3(endpoint.url, expired)
    assert refused(s3.get_object, Bucket=BUCKET, Key=source) == ("ExpiredToken", 400)
    assert refused(s3.put_object, Bucket=BUCKET, Key=output, Body=b"x") == ("ExpiredToken", 400)

    for status in ("Succeeded", "Failed", "TimedOut"):
        done = worker_s3(
            endpoint.url,
            make_job(endpoint.db, [(BUCKET, source)], [(BUCKET, output)], status=status),
        )
        assert refused(done.get_object, Bucket=BUCKET, Key=source) == ("AccessDenied", 403)
        assert refused(done.put_object, Bucket=BUCKET, Key=output, Body=b"x") == (
            "AccessDenied",
            403,
        )
    for status in ("Queued", "Dispatched"):
        live = worker_s3(
            endpoint.url,
            make_job(endpoint.db, [(BUCKET, source)], [(BUCKET, output)], status=status),
        )
        assert live.get_object(Bucket=BUCKET, Key=source)["Body"].read() == b"data"


def test_missing_objects(endpoint: Endpoint) -> None:
    source, output = keys()
    endpoint.store.ensure_bucket(BUCKET)
    s3 = worker_s3(
        endpoint.url,
        make_job(
            endpoint.db,
            [(BUCKET, source), ("no-such-bucket-here", source)],
            [(BUCKET, output), ("no-such-bucket-here", output)],
        ),
    )
    assert refused(s3.get_object, Bucket=BUCKET, Key=source) == ("NoSuchKey", 404)
    assert refused(s3.head_object, Bucket=BUCKET, Key=output) == ("404", 404)
    assert refused(s3.get_object, Bucket="no-such-bucket-here", Key=source)[1] == 404
    assert refused(s3.put_object, Bucket="no-such-bucket-here", Key=output, Body=b"x") == (
        "NoSuchBucket",
        404,
    )


def test_error_body_is_s3_xml(endpoint: Endpoint) -> None:
    source, output = keys()
    s3 = worker_s3(endpoint.url, make_job(endpoint.db, [(BUCKET, source)], [(BUCKET, output)]))
    url = s3.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": "p/other"})
    response = httpx.get(url)
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/xml"
    assert "<Code>AccessDenied</Code>" in response.text and "<RequestId>" in response.text
    assert response.headers["x-amz-request-id"] in response.text
    assert creds_leak_free(response.text, s3)


# --- presigned URLs and addressing ---------------------------------------------------------------


def test_presigned_get(endpoint: Endpoint) -> None:
    source, output = keys()
    endpoint.put(BUCKET, source, b"presigned content")
    s3 = worker_s3(endpoint.url, make_job(endpoint.db, [(BUCKET, source)], [(BUCKET, output)]))
    url = s3.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": source})
    assert "X-Amz-Credential=" in url
    response = httpx.get(url)
    assert response.status_code == 200 and response.content == b"presigned content"

    # boto3 presigns S3 with Signature Version 2 unless told s3v4: refused, saying so.
    v2_client = boto3.client(
        "s3", endpoint_url=endpoint.url, region_name=REGION, aws_access_key_id=s3_key(s3),
        aws_secret_access_key="x", aws_session_token="y",
    )  # fmt: skip
    v2 = httpx.get(
        v2_client.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": source})
    )
    assert v2.status_code == 400 and "AWS4-HMAC-SHA256" in v2.text

    tampered = url.replace("X-Amz-Signature=", "X-Amz-Signature=0")
    assert "<Code>SignatureDoesNotMatch</Code>" in httpx.get(tampered).text
    put_url = s3.generate_presigned_url("put_object", Params={"Bucket": BUCKET, "Key": output})
    endpoint.store.ensure_bucket(BUCKET)
    assert httpx.put(put_url, content=b"via presigned put").status_code == 200
    assert s3.get_object(Bucket=BUCKET, Key=output)["Body"].read() == b"via presigned put"


def test_virtual_hosted_style(endpoint: Endpoint) -> None:
    source, output = keys()
    endpoint.put(BUCKET, source, b"virtual")
    creds = make_job(endpoint.db, [(BUCKET, source)], [(BUCKET, output)])
    host = f"{endpoint.public_host}:{endpoint.port}"
    s3 = worker_s3(f"http://{host}", creds, s3={"addressing_style": "virtual"})
    url = s3.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": source})
    assert url.startswith(f"http://{BUCKET}.{host}/p/")
    local = url.replace(f"http://{BUCKET}.{host}", endpoint.url)
    response = httpx.get(local, headers={"Host": f"{BUCKET}.{host}"})
    assert response.status_code == 200 and response.content == b"virtual"


def test_other_routes_unaffected(endpoint: Endpoint) -> None:
    """Only S3-signed requests reach the endpoint: buckets named like routes still work."""
    creds = make_job(endpoint.db, [("healthz", "docs"), ("api", "v1/pipelines")], [("docs", "x")])
    endpoint.put("healthz", "docs", b"a bucket called healthz")
    endpoint.put("api", "v1/pipelines", b"a bucket called api")
    s3 = worker_s3(endpoint.url, creds)
    assert s3.get_object(Bucket="healthz", Key="docs")["Body"].read() == b"a bucket called healthz"
    assert s3.get_object(Bucket="api", Key="v1/pipelines")["Body"].read() == b"a bucket called api"

    assert httpx.get(f"{endpoint.url}/healthz").json()["status"] == "ok"
    assert httpx.get(f"{endpoint.url}/docs").status_code == 200
    rest = httpx.get(f"{endpoint.url}/api/v1/pipelines", auth=(ACCESS_KEY_ID, SECRET_ACCESS_KEY))
    assert rest.status_code == 200
    cp = boto3.client(
        "codepipeline", endpoint_url=endpoint.url, region_name=REGION,
        aws_access_key_id=ACCESS_KEY_ID, aws_secret_access_key=SECRET_ACCESS_KEY,
    )  # fmt: skip
    assert "pipelines" in cp.list_pipelines()
    # A job's credentials are no good on the CodePipeline endpoint.
    worker_cp = boto3.client(
        "codepipeline", endpoint_url=endpoint.url, region_name=REGION,
        aws_access_key_id=creds.key, aws_secret_access_key=creds.secret,
        aws_session_token=creds.token,
    )  # fmt: skip
    assert refused(worker_cp.list_pipelines)[1] == 403


# --- a real `stageline serve` ---------------------------------------------------------------------


def test_real_server_routes_s3_requests(tmp_path: Path) -> None:
    with running_server(tmp_path / "server") as server:
        db = Database(f"sqlite:///{server.data_dir / 'stageline.db'}")
        store = FolderStore(server.data_dir / "artifacts")
        source, output = keys()
        store.ensure_bucket(BUCKET)
        store.put_bytes(BUCKET, source, b"from a real server")
        s3 = worker_s3(server.url, make_job(db, [(BUCKET, source)], [(BUCKET, output)]))
        assert s3.get_object(Bucket=BUCKET, Key=source)["Body"].read() == b"from a real server"
        s3.put_object(Bucket=BUCKET, Key=output, Body=b"result")
        assert (server.data_dir / "artifacts" / BUCKET / output).read_bytes() == b"result"
        assert refused(s3.get_object, Bucket=BUCKET, Key="p/other") == ("AccessDenied", 403)
        assert httpx.get(f"{server.url}/healthz").status_code == 200
        db.dispose()


# --- helpers --------------------------------------------------------------------------------------


def s3_key(s3: Any) -> str:
    return str(s3._request_signer._credentials.access_key)


def creds_leak_free(text: str, s3: Any) -> bool:
    credentials = s3._request_signer._credentials
    return credentials.secret_key not in text and credentials.token not in text


def self_signed(tmp: Path) -> tuple[str, str]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1)).sign(key, hashes.SHA256())
    )  # fmt: skip
    certfile, keyfile = tmp / "cert.pem", tmp / "key.pem"
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(certfile), str(keyfile)
