"""Sending one delivery: an SNS publish (boto3's standard configuration, so
AWS_ENDPOINT_URL_SNS, profiles and instance roles work as for any AWS client) or a signed
HTTP POST to a webhook target. Raises `SendFailed` with a message safe to show (no secrets).
"""

from __future__ import annotations

import atexit
import hashlib
import hmac
import json
import os
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any

import httpx

SIGNATURE_HEADER = "X-Stageline-Signature-256"
TIMEOUT_SECONDS = 10.0
TIMEOUT = httpx.Timeout(TIMEOUT_SECONDS, connect=5.0)


class SendFailed(Exception):
    """A delivery attempt failed; the message goes to the delivery row (never a secret)."""


class NotDeliverable(SendFailed):
    """No attempt can ever succeed (e.g. a git host without a commit-status API): the row is
    marked `dropped` with the reason instead of being retried."""


def new_secret() -> str:
    return secrets.token_hex(32)


def signature(secret: str, body: bytes) -> str:
    """`sha256=<hex>` of the body, keyed by the target's secret (as GitHub signs webhooks)."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def encode(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":"), sort_keys=True).encode()


@dataclass(frozen=True)
class Outgoing:
    pk: int
    kind: str  # sns | webhook | commit_status
    address: str
    payload: dict[str, Any]
    event_id: str | None
    secret: str | None = None  # webhook targets
    headers: dict[str, str] | None = None  # commit status: the git host's credentials


Sender = Callable[[Outgoing], None]


def post_webhook(item: Outgoing) -> None:
    body = encode(item.payload["message"])
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Stageline-Events/1",
        "X-Stageline-Delivery": str(item.pk),
    }
    if item.event_id:
        headers["X-Stageline-Event-Id"] = item.event_id
    if item.secret is not None:
        headers[SIGNATURE_HEADER] = signature(item.secret, body)
    _post(item.address, body, headers)


def post_commit_status(item: Outgoing) -> None:
    headers = {"Content-Type": "application/json", **(item.headers or {})}
    _post(item.address, encode(item.payload["body"]), headers)


_client: httpx.Client | None = None
_client_lock = threading.Lock()


def http_client() -> httpx.Client:
    """One client per process (thread-safe): a new client costs a TLS context, ~50 ms a
    delivery. It keeps no cookies: one target's answer never reaches another's request."""
    global _client
    with _client_lock:
        if _client is None or _client.is_closed:
            jar = CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))
            _client = httpx.Client(timeout=TIMEOUT, cookies=jar)
        return _client


@atexit.register
def close_http_client() -> None:
    global _client
    with _client_lock:
        if _client is not None:
            _client.close()
        _client = None


def _forget_parents_client() -> None:
    """A forked child starts afresh: its parent's pooled sockets (and lock) are not its own."""
    global _client, _client_lock
    _client, _client_lock = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_parents_client)


def _post(url: str, body: bytes, headers: dict[str, str]) -> None:
    try:
        response = http_client().post(url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        raise SendFailed(f"{type(exc).__name__}: {exc}") from None
    if not 200 <= response.status_code < 300:
        raise SendFailed(f"HTTP {response.status_code} from the target")


class SnsPublisher:
    """One boto3 SNS client per region, made on first use (clients are thread-safe)."""

    def __init__(self) -> None:
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _client(self, region: str) -> Any:
        with self._lock:
            if region not in self._clients:
                import boto3

                self._clients[region] = boto3.client("sns", region_name=region)
            return self._clients[region]

    def __call__(self, item: Outgoing) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        parts = item.address.split(":")
        region = parts[3] if len(parts) > 5 and parts[3] else "us-east-1"
        params: dict[str, Any] = {
            "TopicArn": item.address,
            "Message": json.dumps(item.payload["message"]),
        }
        if item.payload.get("subject"):
            params["Subject"] = item.payload["subject"]
        try:
            self._client(region).publish(**params)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise SendFailed(f"SNS {error.get('Code')}: {error.get('Message')}") from None
        except BotoCoreError as exc:
            raise SendFailed(f"SNS: {exc}") from None
