"""Console sessions: a signed cookie (no server-side store) and its CSRF token.

The cookie holds a random session id, the access key id once signed in, a fingerprint of that
key's secret (so a changed secret ends its sessions) and an expiry, signed with HMAC-SHA256.
The CSRF token is an HMAC of the session id: a synchronizer token that an attacker's page can
neither read nor forge, checked on every POST.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass, replace
from pathlib import Path

from stageline.settings import Settings

COOKIE = "sl_session"
FLASH_COOKIE = "sl_flash"
SECRET_FILE = "session_secret"
LIFETIME_SECONDS = 12 * 60 * 60
ANONYMOUS_LIFETIME_SECONDS = 60 * 60


def signing_key(settings: Settings) -> bytes:
    """STAGELINE_SESSION_SECRET, or a random key created once (0600) in the data dir."""
    if settings.session_secret is not None:
        return hashlib.sha256(settings.session_secret.get_secret_value().encode()).digest()
    path = settings.data_dir / SECRET_FILE
    if not path.exists():
        _create_secret(path)
    return hashlib.sha256(path.read_bytes().strip()).digest()


def _create_secret(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:  # O_EXCL: two processes starting at once keep the same key
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(48))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def secret_fingerprint(key: bytes, secret: str) -> str:
    return hmac.new(key, b"secret:" + secret.encode(), hashlib.sha256).hexdigest()[:32]


@dataclass(frozen=True)
class Session:
    sid: str
    expires: int
    access_key_id: str | None = None
    fingerprint: str | None = None

    @property
    def signed_in(self) -> bool:
        return self.access_key_id is not None

    @classmethod
    def anonymous(cls) -> Session:
        return cls(secrets.token_urlsafe(18), int(time.time()) + ANONYMOUS_LIFETIME_SECONDS)

    def signed_in_as(self, access_key_id: str, fingerprint: str) -> Session:
        # A new id at sign-in: a session id planted before sign-in is worth nothing after.
        return replace(
            Session.anonymous(),
            expires=int(time.time()) + LIFETIME_SECONDS,
            access_key_id=access_key_id,
            fingerprint=fingerprint,
        )


class Signer:
    def __init__(self, key: bytes) -> None:
        self.key = key

    def _mac(self, purpose: str, payload: bytes) -> bytes:
        return hmac.new(self.key, purpose.encode() + b"\0" + payload, hashlib.sha256).digest()

    def sign(self, purpose: str, value: object) -> str:
        payload = json.dumps(value, separators=(",", ":")).encode()
        return f"{_b64(payload)}.{_b64(self._mac(purpose, payload))}"

    def unsign(self, purpose: str, token: str | None) -> object | None:
        if not token or token.count(".") != 1:
            return None
        body, mac = token.split(".")
        try:
            payload, given = _unb64(body), _unb64(mac)
        except ValueError:
            return None
        if not hmac.compare_digest(given, self._mac(purpose, payload)):
            return None
        try:
            value: object = json.loads(payload)
        except ValueError:
            return None
        return value

    # -- sessions --------------------------------------------------------------------------
    def dump(self, session: Session) -> str:
        return self.sign(
            "session", [session.sid, session.expires, session.access_key_id, session.fingerprint]
        )

    def load(self, token: str | None) -> Session | None:
        value = self.unsign("session", token)
        if not isinstance(value, list) or len(value) != 4:
            return None
        sid, expires, key_id, fingerprint = value
        if not isinstance(sid, str) or not isinstance(expires, int) or expires < time.time():
            return None
        if not (key_id is None or isinstance(key_id, str)):
            return None
        return Session(sid, expires, key_id, fingerprint if isinstance(fingerprint, str) else None)

    def csrf_token(self, session: Session) -> str:
        return _b64(self._mac("csrf", session.sid.encode()))

    def csrf_ok(self, session: Session, token: str | None) -> bool:
        return token is not None and hmac.compare_digest(
            token.encode(), self.csrf_token(session).encode()
        )
