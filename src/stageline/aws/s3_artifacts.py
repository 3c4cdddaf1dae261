"""The artifact endpoint: the S3 subset job workers use for their artifacts.

A job's JobData carries temporary credentials (`services/job_credentials.py`); a worker points
a plain S3 client at Stageline (`endpoint_url`, or AWS_ENDPOINT_URL_S3) and downloads its input
artifacts and uploads its output artifacts with them. `S3Dispatch` sends every request whose
SigV4 credential scope names the service `s3` (Authorization header or presigned query) here,
so any bucket name works beside `/api`, `/docs`, `/healthz` and `POST /`.

Operations: GetObject (one byte range), HeadObject, PutObject, CreateMultipartUpload,
UploadPart, CompleteMultipartUpload, AbortMultipartUpload; path-style addressing, and
virtual-hosted style under STAGELINE_PUBLIC_URL's host. Anything else is S3's NotImplemented.
Errors are S3's XML. Secrets and tokens are never logged.
"""

from __future__ import annotations

import io
import logging
import os
import re
import tempfile
import threading
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse

from stageline.artifacts.factory import object_store
from stageline.aws import s3_payload, sigv4
from stageline.aws import s3_wire as wire
from stageline.aws.s3_backends import Backend, ObjectMeta, backend_for, parse_range
from stageline.domain.errors import ServiceError
from stageline.runtime import Runtime
from stageline.services import job_credentials
from stageline.services.job_credentials import JobGrant

log = logging.getLogger("stageline.aws.s3")

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_OBJECT_BYTES = 5 * 1024**3  # S3's largest PutObject and UploadPart
MAX_PART_NUMBER = 10000
_CREDENTIAL_RE = re.compile(rb"Credential=([^,\s]+)")
# Query parameters that do not change what a read or a PutObject means.
_PLAIN_PARAMS = frozenset({"x-id"})


def is_s3_request(scope: Scope) -> bool:
    """Does the request's SigV4 credential scope name the service `s3`? (Or is it signed with
    S3's old Signature Version 2, which the endpoint refuses in S3's terms.)"""
    credential: bytes | None = None
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            if value.startswith(b"AWS "):  # Signature Version 2: S3 alone used it
                return True
            match = _CREDENTIAL_RE.search(value)
            credential = match.group(1) if match else None
            break
    else:
        query: bytes = scope.get("query_string", b"")
        if b"AWSAccessKeyId=" in query and b"Signature=" in query:  # presigned, version 2
            return True
        if b"X-Amz-Credential=" in query:
            params = dict(parse_qsl(query.decode("latin-1")))
            credential = params.get("X-Amz-Credential", "").encode("latin-1")
    parts = credential.split(b"/") if credential else []
    return len(parts) == 5 and parts[3] == b"s3"


class S3Dispatch:
    """ASGI middleware: S3-signed requests to the artifact endpoint, the rest to the app."""

    def __init__(self, app: ASGIApp, s3: ASGIApp) -> None:
        self.app = app
        self.s3 = s3

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and is_s3_request(scope):
            await self.s3(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def build_app(runtime: Runtime) -> ASGIApp:
    endpoint = ArtifactEndpoint(runtime)
    wire.redact_access_log()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        response = await endpoint.handle(Request(scope, receive))
        await response(scope, receive, send)

    return app


class _Call:
    """One parsed request: what it addresses and how it is signed."""

    def __init__(self, request: Request, virtual_host: str | None) -> None:
        self.request = request
        self.method = request.method
        self.query = dict(parse_qsl(request.scope.get("query_string", b"").decode(), True))
        self.raw_path = request.scope.get("raw_path", b"/").decode("latin-1")
        host = request.headers.get("host", "").rpartition(":")[0] or request.headers.get("host")
        if virtual_host and host and host.lower().endswith("." + virtual_host):
            self.bucket = host[: -len(virtual_host) - 1]
            self.key = unquote(self.raw_path[1:])
        else:
            bucket, _, key = self.raw_path[1:].partition("/")
            self.bucket, self.key = unquote(bucket), unquote(key)
        authorization = request.headers.get("authorization")
        if (authorization or "").startswith("AWS ") or "AWSAccessKeyId" in self.query:
            raise wire.invalid_request(
                "The authorization mechanism you have provided is not supported. Please use "
                "AWS4-HMAC-SHA256 (boto3: Config(signature_version='s3v4') to presign)."
            )
        self.presigned = authorization is None
        declared = request.headers.get("x-amz-content-sha256")
        if declared is None and not self.presigned:
            raise wire.invalid_request(
                "Missing required header for this request: x-amz-content-sha256"
            )
        self.content_sha256 = (declared or s3_payload.UNSIGNED_PAYLOAD).strip()

    def operation(self) -> str:
        q, method = self.query, self.method
        if not self.bucket or not self.key:
            raise wire.not_implemented("bucket operations")
        if method in ("GET", "HEAD") and "uploadId" not in q and not self._extra(q):
            return "GetObject" if method == "GET" else "HeadObject"
        if method == "PUT" and "x-amz-copy-source" not in self.request.headers:
            if not self._extra(q):
                return "PutObject"
            if (
                "uploadId" in q
                and "partNumber" in q
                and not self._extra(q, "uploadId", "partNumber")
            ):
                return "UploadPart"
        if method == "POST" and "uploads" in q and not self._extra(q, "uploads"):
            return "CreateMultipartUpload"
        if method == "POST" and "uploadId" in q and not self._extra(q, "uploadId"):
            return "CompleteMultipartUpload"
        if method == "DELETE" and "uploadId" in q and not self._extra(q, "uploadId"):
            return "AbortMultipartUpload"
        raise wire.not_implemented(f"{method} with {', '.join(sorted(q)) or 'no parameters'}")

    @staticmethod
    def _extra(query: dict[str, str], *allowed: str) -> list[str]:
        return [
            name
            for name in query
            if name not in allowed
            and name not in _PLAIN_PARAMS
            and not name.startswith(("X-Amz-", "response-"))
        ]

    def header_or_query(self, name: str) -> str | None:
        value = self.request.headers.get(name)
        if value is None:
            lowered = name.lower()
            value = next((v for k, v in self.query.items() if k.lower() == lowered), None)
        return value


class ArtifactEndpoint:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.scratch = runtime.settings.data_dir / "artifact-endpoint"
        self.virtual_host = (urlsplit(runtime.settings.public_url).hostname or "").lower() or None
        self._backend: Backend | None = None
        self._lock = threading.Lock()

    def backend(self) -> Backend:
        with self._lock:
            if self._backend is None:
                self._backend = backend_for(object_store(self.runtime.settings), self.scratch)
            return self._backend

    async def handle(self, request: Request) -> Response:
        request_id = uuid.uuid4().hex[:16].upper()
        resource = request.scope.get("raw_path", b"/").decode("latin-1")
        try:
            call = _Call(request, self.virtual_host)
            operation = call.operation()
            s3_payload.check_mode(call.content_sha256)
            grant, credential = await run_in_threadpool(self._authenticate, call)
            if operation in ("GetObject", "HeadObject"):
                if not grant.may_read(call.bucket, call.key):
                    raise wire.access_denied()
                response = await self._read(call, operation == "GetObject")
            else:
                if not grant.may_write(call.bucket, call.key):
                    raise wire.access_denied()
                response = await self._write(call, operation, grant, credential)
        except wire.S3Error as error:
            if error.status >= 500:
                log.warning("artifact request %s: %s", request_id, error.code)
            response = _error(error, resource, request_id, head=request.method == "HEAD")
        except ClientDisconnect:
            return Response(status_code=400)
        except Exception:
            log.exception("artifact request %s failed", request_id)
            failure = wire.S3Error("InternalError", "We encountered an internal error.", 500)
            response = _error(failure, resource, request_id, head=request.method == "HEAD")
        response.headers["x-amz-request-id"] = request_id
        if response.status_code >= 300 and _has_body(request):
            # The body may be unread (a refusal before it, or `Expect: 100-continue`): the
            # connection cannot carry another request.
            response.headers["Connection"] = "close"
        return response

    # -- authentication ----------------------------------------------------------------------

    def _authenticate(self, call: _Call) -> tuple[JobGrant, sigv4.VerifiedCredential]:
        now = datetime.now(UTC)
        found: list[JobGrant] = []

        def lookup(access_key_id: str) -> str | None:
            with self.runtime.db.unit_of_work(write=False) as uow:
                grant = job_credentials.grant_for(uow.session, access_key_id, now)
            if grant is None:
                return None
            found.append(grant)
            return grant.secret_access_key

        signed = sigv4.SignedRequest(
            method=call.method,
            path=call.raw_path,
            query=call.request.scope.get("query_string", b"").decode("latin-1"),
            headers=call.request.headers,
            body=b"",
        )
        try:
            credential = sigv4.verify(signed, lookup, now=now, payload_hash=call.content_sha256)
        except ServiceError as exc:
            raise wire.auth_error(exc, call.presigned) from None
        grant = found[-1]
        if not grant.token_matches(call.header_or_query("X-Amz-Security-Token")):
            raise wire.invalid_token()
        if grant.expired:
            raise wire.expired_token()
        return grant, credential

    # -- reads -------------------------------------------------------------------------------

    async def _read(self, call: _Call, body: bool) -> Response:
        backend = self.backend()
        if not body:
            meta = await run_in_threadpool(backend.head, call.bucket, call.key)
            _check_preconditions(call, meta)
            return Response(status_code=200, headers=_object_headers(meta, meta.size))
        byte_range = parse_range(call.request.headers.get("range"))
        download = await run_in_threadpool(backend.get, call.bucket, call.key, byte_range)
        try:
            _check_preconditions(call, download.meta)
        except wire.S3Error:
            close = getattr(download.chunks, "close", None)
            if close is not None:
                close()
            raise
        length = download.end - download.start + 1
        headers = _object_headers(download.meta, length)
        if download.partial:
            headers["Content-Range"] = f"bytes {download.start}-{download.end}/{download.meta.size}"
        status = 206 if download.partial else 200
        return StreamingResponse(download.chunks, status_code=status, headers=headers)

    # -- writes ------------------------------------------------------------------------------

    async def _write(
        self, call: _Call, operation: str, grant: JobGrant, credential: sigv4.VerifiedCredential
    ) -> Response:
        backend = self.backend()
        bucket, key, ctype = call.bucket, call.key, call.request.headers.get("content-type")
        if operation == "CreateMultipartUpload":
            upload = await run_in_threadpool(backend.create_upload, bucket, key, ctype)
            result = [("Bucket", bucket), ("Key", key), ("UploadId", upload)]
            return _xml(wire.document("InitiateMultipartUploadResult", result))
        if operation == "AbortMultipartUpload":
            await run_in_threadpool(backend.abort, bucket, key, call.query["uploadId"])
            return Response(status_code=204)
        signing = _chunk_signing(call, grant, credential)
        if operation == "CompleteMultipartUpload":
            body = io.BytesIO()
            await s3_payload.receive(
                call.request.stream(), body, call.request.headers, call.content_sha256,
                wire.MAX_XML_BYTES, signing,
            )  # fmt: skip
            parts = wire.parse_completed_parts(body.getvalue())
            upload = call.query["uploadId"]
            etag = await run_in_threadpool(backend.complete, bucket, key, upload, parts)
            location = str(call.request.url.replace(query=""))
            result = [("Location", location), ("Bucket", bucket), ("Key", key)]
            return _xml(
                wire.document("CompleteMultipartUploadResult", [*result, ("ETag", f'"{etag}"')])
            )
        number = call.query.get("partNumber", "")
        if operation == "UploadPart" and not (
            number.isdigit() and 1 <= int(number) <= MAX_PART_NUMBER
        ):
            raise wire.invalid_argument(
                f"Part number must be an integer between 1 and {MAX_PART_NUMBER}, inclusive"
            )
        declared = call.request.headers.get(
            "x-amz-decoded-content-length", call.request.headers.get("content-length", "")
        )
        if declared.isdigit() and int(declared) > MAX_OBJECT_BYTES:
            raise wire.entity_too_large(MAX_OBJECT_BYTES)
        path = await self._receive_to_file(call, signing)
        try:
            if operation == "UploadPart":
                upload = call.query["uploadId"]
                args = (bucket, key, upload, int(number), path)
                etag = await run_in_threadpool(backend.upload_part, *args)
            else:
                etag = await run_in_threadpool(backend.put, bucket, key, path, ctype)
        finally:
            path.unlink(missing_ok=True)
        return Response(status_code=200, headers={"ETag": f'"{etag}"'})

    async def _receive_to_file(self, call: _Call, signing: s3_payload.ChunkSigning | None) -> Path:
        tmp_dir = self.scratch / "tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=tmp_dir, prefix="body-")
        path = Path(name)
        try:
            with os.fdopen(fd, "wb") as out:
                await s3_payload.receive(
                    call.request.stream(), out, call.request.headers, call.content_sha256,
                    MAX_OBJECT_BYTES, signing,
                )  # fmt: skip
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return path


def _chunk_signing(
    call: _Call, grant: JobGrant, credential: sigv4.VerifiedCredential
) -> s3_payload.ChunkSigning | None:
    if call.content_sha256 != s3_payload.STREAMING_SIGNED or call.presigned:
        return None
    key = sigv4.signing_key(
        grant.secret_access_key, credential.scope_date, credential.region, credential.service
    )
    scope = f"{credential.scope_date}/{credential.region}/{credential.service}/aws4_request"
    return s3_payload.ChunkSigning(key, credential.timestamp, scope, credential.signature)


def _check_preconditions(call: _Call, meta: ObjectMeta) -> None:
    if_match = call.request.headers.get("if-match")
    if if_match is not None and if_match.strip().strip('"') not in (meta.etag, "*"):
        raise wire.S3Error(
            "PreconditionFailed",
            "At least one of the pre-conditions you specified did not hold",
            412,
        )
    if_none_match = call.request.headers.get("if-none-match")
    if if_none_match is not None and if_none_match.strip().strip('"') in (meta.etag, "*"):
        raise wire.S3Error("NotModified", "Not Modified", 304)


def _object_headers(meta: ObjectMeta, length: int) -> dict[str, str]:
    return {
        "Content-Length": str(max(length, 0)),
        "Content-Type": meta.content_type,
        "ETag": f'"{meta.etag}"',
        "Last-Modified": format_datetime(meta.last_modified.astimezone(UTC), usegmt=True),
        "Accept-Ranges": "bytes",
    }


def _has_body(request: Request) -> bool:
    length = request.headers.get("content-length", "0")
    return "transfer-encoding" in request.headers or length not in ("", "0")


def _xml(body: bytes) -> Response:
    return Response(content=body, status_code=200, media_type=wire.XML)


def _error(error: wire.S3Error, resource: str, request_id: str, *, head: bool) -> Response:
    if head or error.status == 304:  # HEAD answers carry no body
        return Response(status_code=error.status)
    body = wire.error_xml(error, unquote(resource), request_id)
    return Response(content=body, status_code=error.status, media_type=wire.XML)
