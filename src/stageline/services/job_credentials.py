"""Temporary credentials of a job (JobData.artifactCredentials) and what they allow.

A job worker downloads its input artifacts and uploads its output artifacts with a plain S3
client pointed at Stageline's artifact endpoint (`aws/s3_artifacts.py`), signing with the
credentials minted here. They look like AWS's temporary credentials: an access key id "ASIA"
plus 16 uppercase letters and digits, a 40-character secret and a session token. The grant is
exactly the job's own artifact objects: its input artifacts to read, its output artifacts to
write (and read back) — and only while the credentials are unexpired and the job is not over.

SigV4 needs the secret itself to verify a signature (an HMAC), so the secret is stored with the
job row; it never leaves the database except in the job's own JobData.
"""

from __future__ import annotations

import hmac
import secrets
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from stageline.artifacts.base import ObjectRef
from stageline.persistence.models import Job

ACCESS_KEY_PREFIX = "ASIA"
DEFAULT_LIFETIME = timedelta(hours=1)
# The job is still someone's to work on; Succeeded / Failed / TimedOut end every grant.
ACTIVE_STATUSES = frozenset({"Queued", "Dispatched", "InProgress"})
_KEY_ALPHABET = string.ascii_uppercase + string.digits
_SECRET_ALPHABET = string.ascii_letters + string.digits + "+/"


@dataclass(frozen=True)
class JobGrant:
    """What a job's credentials may do at the moment `grant_for` looked.

    `readable` and `writable` are empty once the credentials expired or the job finished;
    `expired` and `finished` say which, so the endpoint can answer ExpiredToken or AccessDenied.
    """

    job_id: str
    secret_access_key: str
    session_token: str
    expires_at: datetime
    expired: bool
    finished: bool
    readable: frozenset[ObjectRef]  # input artifacts, and the outputs (read back)
    writable: frozenset[ObjectRef]  # output artifacts

    def may_read(self, bucket: str, key: str) -> bool:
        return ObjectRef(bucket, key) in self.readable

    def may_write(self, bucket: str, key: str) -> bool:
        return ObjectRef(bucket, key) in self.writable

    def token_matches(self, token: str | None) -> bool:
        """Constant-time comparison of a presented session token with the job's."""
        if token is None:
            return False
        return hmac.compare_digest(token.encode(), self.session_token.encode())


def new_access_key_id() -> str:
    return ACCESS_KEY_PREFIX + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(16))


def mint(job: Job, now: datetime, lifetime: timedelta = DEFAULT_LIFETIME) -> None:
    """Give `job` fresh temporary credentials valid until now + lifetime (replacing any)."""
    job.access_key_id = new_access_key_id()
    job.secret_access_key = "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(40))
    job.session_token = secrets.token_urlsafe(96)  # 128 characters, the column's width
    job.credentials_expire_at = _utc(now) + lifetime


def artifact_credentials(job: Job) -> dict[str, str]:
    """JobData.artifactCredentials for `job` (after `mint`)."""
    if not (job.access_key_id and job.secret_access_key and job.session_token):
        raise ValueError(f"job {job.job_id} has no credentials")
    return {
        "accessKeyId": job.access_key_id,
        "secretAccessKey": job.secret_access_key,
        "sessionToken": job.session_token,
    }


def grant_for(session: Session, access_key_id: str, now: datetime) -> JobGrant | None:
    """The grant of the job holding `access_key_id`; None when no job has that key."""
    if not access_key_id.startswith(ACCESS_KEY_PREFIX):
        return None
    job = session.scalars(select(Job).where(Job.access_key_id == access_key_id)).one_or_none()
    if job is None or not job.secret_access_key or not job.session_token:
        return None
    expires_at = _utc(job.credentials_expire_at or datetime.min.replace(tzinfo=UTC))
    expired = _utc(now) >= expires_at
    finished = job.status not in ACTIVE_STATUSES
    data: Mapping[str, Any] = job.data or {}
    inputs = frozenset(_locations(data.get("inputArtifacts")))
    outputs = frozenset(_locations(data.get("outputArtifacts")))
    active = not (expired or finished)
    return JobGrant(
        job_id=job.job_id,
        secret_access_key=job.secret_access_key,
        session_token=job.session_token,
        expires_at=expires_at,
        expired=expired,
        finished=finished,
        readable=inputs | outputs if active else frozenset(),
        writable=outputs if active else frozenset(),
    )


def _locations(artifacts: Any) -> Iterable[ObjectRef]:
    """The S3 objects of JobData artifacts: [{name, location: {s3Location: {...}}}, ...]."""
    if not isinstance(artifacts, list):
        return
    for artifact in artifacts:
        location = artifact.get("location") if isinstance(artifact, Mapping) else None
        s3 = location.get("s3Location") if isinstance(location, Mapping) else None
        if isinstance(s3, Mapping):
            bucket, key = s3.get("bucketName"), s3.get("objectKey")
            if isinstance(bucket, str) and isinstance(key, str) and bucket and key:
                yield ObjectRef(bucket, key)


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
