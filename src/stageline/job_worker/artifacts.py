"""A job's artifacts: a workspace, input zips fetched and extracted safely, output
directories zipped and put back — all through S3 with the job's own artifactCredentials.

The S3 endpoint is boto3's standard configuration (AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL,
the config file) unless --s3-endpoint-url names one. On Stageline that is Stageline's own URL:
it answers GetObject, HeadObject and PutObject for a job's credentials, path-style.
Transfers are single GetObject / PutObject calls (no ranges, no multipart), which is all that
endpoint needs to serve.

Workspace layout (a fresh temporary directory per job):

    <workspace>/input/<name>/     each input artifact; the first is the working directory
    <workspace>/output/<name>/    one empty directory per output artifact, zipped afterwards
    <workspace>/meta/             the variables and continuation-token files, scratch zips
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
)

from stageline.artifacts.zips import UnsafeArchive, extract_zip, pack_directory
from stageline.job_worker.conventions import ConventionError, artifact_dir_name

_CHUNK = 1024 * 1024


class ArtifactError(RuntimeError):
    """An artifact could not be fetched, extracted, packed or stored; safe to show."""


@dataclass(frozen=True)
class Workspace:
    root: Path

    @property
    def input_dir(self) -> Path:
        return self.root / "input"

    @property
    def output_dir(self) -> Path:
        return self.root / "output"

    @property
    def meta(self) -> Path:
        return self.root / "meta"

    @property
    def variables_file(self) -> Path:
        return self.meta / "output-variables"

    @property
    def token_file(self) -> Path:
        return self.meta / "continuation-token"

    @classmethod
    def create(cls, parent: Path | None, job_id: str) -> Workspace:
        root = Path(tempfile.mkdtemp(prefix=f"stageline-job-{job_id[:8]}-", dir=parent))
        workspace = cls(root)
        for folder in (workspace.input_dir, workspace.output_dir, workspace.meta):
            folder.mkdir(mode=0o700)
        workspace.variables_file.touch(mode=0o600)
        workspace.token_file.touch(mode=0o600)
        return workspace

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def s3_client(
    session: Any, credentials: dict[str, Any], region: str | None, endpoint_url: str | None
) -> Any:
    """An S3 client signing with the job's temporary credentials, path-style."""
    if not credentials.get("accessKeyId"):
        raise ArtifactError("the job carries no artifactCredentials")
    return session.client(
        "s3",
        region_name=region,
        endpoint_url=endpoint_url,
        aws_access_key_id=credentials["accessKeyId"],
        aws_secret_access_key=credentials.get("secretAccessKey"),
        aws_session_token=credentials.get("sessionToken"),
        config=Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            retries={"max_attempts": 3, "mode": "standard"},
            connect_timeout=10,
            read_timeout=120,
        ),
    )


def _where(artifact: dict[str, Any]) -> tuple[str, str, str]:
    name = artifact_dir_name(str(artifact.get("name") or ""))
    location = (artifact.get("location") or {}).get("s3Location") or {}
    bucket, key = location.get("bucketName"), location.get("objectKey")
    if not bucket or not key:
        raise ArtifactError(f"artifact {name} has no S3 location")
    return name, str(bucket), str(key)


def _explain(exc: Exception, endpoint: str) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = error.get("Code") or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        message = error.get("Message") or ""
        return f"{code} {message}".strip() + f" (S3 endpoint {endpoint})"
    if isinstance(exc, EndpointConnectionError | ConnectTimeoutError):
        return f"{exc} (is {endpoint} right? set AWS_ENDPOINT_URL_S3 or --s3-endpoint-url)"
    return f"{exc} (S3 endpoint {endpoint})"


def download_inputs(s3: Any, artifacts: list[dict[str, Any]], workspace: Workspace) -> Path:
    """Fetch and extract every input artifact; returns the working directory (the first
    input's directory, or the input root when the action has none)."""
    endpoint = str(s3.meta.endpoint_url)
    source = workspace.input_dir
    for index, artifact in enumerate(artifacts):
        try:
            name, bucket, key = _where(artifact)
        except ConventionError as exc:
            raise ArtifactError(str(exc)) from exc
        archive = workspace.meta / f"input-{index}.zip"
        try:
            response = s3.get_object(Bucket=bucket, Key=key)
            with open(archive, "wb") as out:
                body = response["Body"]
                while chunk := body.read(_CHUNK):
                    out.write(chunk)
        except (ClientError, BotoCoreError, OSError) as exc:
            raise ArtifactError(
                f"could not download input artifact {name} (s3://{bucket}/{key}): "
                f"{_explain(exc, endpoint)}"
            ) from exc
        target = workspace.input_dir / name
        try:
            extract_zip(archive, target)
        except UnsafeArchive as exc:
            raise ArtifactError(f"input artifact {name} was refused: {exc}") from exc
        finally:
            archive.unlink(missing_ok=True)
        if index == 0:
            source = target
    source.mkdir(exist_ok=True)
    return source


def prepare_outputs(artifacts: list[dict[str, Any]], workspace: Workspace) -> None:
    """One empty directory per output artifact, for the command to fill."""
    for artifact in artifacts:
        try:
            name, _, _ = _where(artifact)
        except ConventionError as exc:
            raise ArtifactError(str(exc)) from exc
        (workspace.output_dir / name).mkdir(exist_ok=True)


def upload_outputs(
    s3: Any,
    artifacts: list[dict[str, Any]],
    workspace: Workspace,
    encryption_key: dict[str, Any] | None = None,
) -> list[str]:
    """Zip each output directory and put it at its location; returns a line per artifact.
    A KMS `encryptionKey` in the job's data (AWS artifact stores) encrypts them with it."""
    endpoint = str(s3.meta.endpoint_url)
    extra: dict[str, str] = {}
    if encryption_key and encryption_key.get("type") == "KMS" and encryption_key.get("id"):
        extra = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": str(encryption_key["id"])}
    done = []
    for artifact in artifacts:
        name, bucket, key = _where(artifact)
        folder = workspace.output_dir / name
        archive = workspace.meta / f"output-{name}.zip"
        try:
            count = pack_directory(folder, archive) if folder.is_dir() else _empty_zip(archive)
        except (ValueError, OSError) as exc:
            raise ArtifactError(f"could not zip output artifact {name}: {exc}") from exc
        try:
            with open(archive, "rb") as body:
                s3.put_object(
                    Bucket=bucket,
                    Key=key,
                    Body=body,
                    ContentLength=os.path.getsize(archive),
                    ContentType="application/zip",
                    **extra,
                )
        except (ClientError, BotoCoreError, OSError) as exc:
            raise ArtifactError(
                f"could not upload output artifact {name} (s3://{bucket}/{key}): "
                f"{_explain(exc, endpoint)}"
            ) from exc
        finally:
            archive.unlink(missing_ok=True)
        done.append(f"{name}: {count} file(s)")
    return done


def _empty_zip(archive: Path) -> int:
    empty = archive.with_suffix(".empty")
    empty.mkdir(exist_ok=True)
    try:
        return pack_directory(empty, archive)
    finally:
        empty.rmdir()
