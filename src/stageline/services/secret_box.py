"""Encryption of stored secrets (connection credentials, webhook secrets) with Fernet.

The key comes from STAGELINE_SECRET_KEY (every API replica and worker must share it), else from
a key file (mode 0600) in the data directory, created on first use — enough for the embedded
single-process setup. Decrypted values never go into messages: a failure names the cause only.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from stageline.domain.errors import ServiceError
from stageline.settings import Settings

KEY_FILE = "secret.key"


class SecretBoxError(ServiceError):
    """A stored secret cannot be decrypted (another key, or damaged data): the server's
    configuration is wrong, not the request."""

    code = "InternalFailure"
    status = 500


class SecretBox:
    def __init__(self, key: bytes) -> None:
        try:
            self._fernet = Fernet(key)
        except (ValueError, TypeError):
            raise SecretBoxError(
                "The secret key is not a valid Fernet key (32 url-safe base64-encoded bytes; "
                "make one with `python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'`)."
            ) from None

    @classmethod
    def from_settings(cls, settings: Settings) -> SecretBox:
        if settings.secret_key is not None:
            return cls(settings.secret_key.get_secret_value().encode())
        return cls(_key_file(settings.data_dir / KEY_FILE))

    def encrypt(self, plain: str) -> str:
        return self._fernet.encrypt(plain.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            raise SecretBoxError(
                "A stored secret cannot be decrypted with this process's key: every API "
                "replica and worker must share STAGELINE_SECRET_KEY."
            ) from None


def _key_file(path: Path) -> bytes:
    """The key in `path`, made (0600, exclusively) when there is none yet."""
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key()
    partial = path.with_name(f".{path.name}.{os.getpid()}.{time.monotonic_ns()}")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(key)
    try:
        os.link(partial, path)  # atomic and exclusive: nobody ever reads a half-written key
    except FileExistsError:  # another process made it first: use theirs
        return path.read_bytes().strip()
    finally:
        partial.unlink()
    return key
