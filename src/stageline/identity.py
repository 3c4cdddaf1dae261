"""Who is calling: access keys and the principal they stand for.

Root keys come from STAGELINE_ROOT_ACCESS_KEY_ID / STAGELINE_ROOT_SECRET_ACCESS_KEY; without
them a key pair is generated on first start and kept (mode 0600) in the data dir. A Principal
is what every adapter hands to the services, so users and policies can be added to it later
without touching callers.
"""

from __future__ import annotations

import hmac
import json
import os
import secrets
import string
from dataclasses import dataclass
from pathlib import Path

from stageline.settings import Settings

CREDENTIALS_FILE = "credentials.json"


@dataclass(frozen=True)
class Principal:
    access_key_id: str
    account_id: str
    arn: str
    kind: str = "root"


@dataclass(frozen=True)
class AccessKey:
    access_key_id: str
    secret_access_key: str


def _generate() -> AccessKey:
    alphabet = string.ascii_uppercase + string.digits
    key_id = "AKIA" + "".join(secrets.choice(alphabet) for _ in range(16))
    # Letters and digits only: the banner's `aws configure set ... SECRET` line must work as
    # printed, and a secret starting with '-' would be read as an option by the AWS CLI.
    secret = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(40))
    return AccessKey(key_id, secret)


class KeyStore:
    """Looks up secrets by access key id; holds the root key pair."""

    def __init__(self, settings: Settings) -> None:
        self.account_id = settings.account_id
        self.generated = False
        self.credentials_path: Path | None = None
        self.root = self._root_key(settings)
        self._secrets = {self.root.access_key_id: self.root.secret_access_key}

    def _root_key(self, settings: Settings) -> AccessKey:
        if settings.root_access_key_id and settings.root_secret_access_key:
            return AccessKey(
                settings.root_access_key_id, settings.root_secret_access_key.get_secret_value()
            )
        path = settings.data_dir / CREDENTIALS_FILE
        self.credentials_path = path
        if path.exists():
            data = json.loads(path.read_text())
            return AccessKey(data["access_key_id"], data["secret_access_key"])
        key = _generate()
        path.parent.mkdir(parents=True, exist_ok=True)
        # O_EXCL: two processes starting at once must not each write a different pair.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return self._root_key(settings)
        with os.fdopen(fd, "w") as handle:
            json.dump(
                {"access_key_id": key.access_key_id, "secret_access_key": key.secret_access_key},
                handle,
            )
        self.generated = True
        return key

    def secret_for(self, access_key_id: str) -> str | None:
        return self._secrets.get(access_key_id)

    def check_secret(self, access_key_id: str, secret: str) -> bool:
        """Constant-time check of a key pair (REST basic auth)."""
        expected = self._secrets.get(access_key_id)
        # Compare even for unknown keys so timing does not reveal which keys exist.
        candidate = expected if expected is not None else "\0" * 40
        match = hmac.compare_digest(candidate.encode(), secret.encode())
        return match and expected is not None

    def principal(self, access_key_id: str) -> Principal:
        return Principal(
            access_key_id=access_key_id,
            account_id=self.account_id,
            arn=f"arn:aws:iam::{self.account_id}:root",
        )
