"""Opaque pagination tokens: callers cannot read or forge a position into another listing."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from stageline.domain.errors import InvalidNextTokenException


def encode_token(kind: str, position: dict[str, Any]) -> str:
    raw = json.dumps({"k": kind, "p": position}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(kind: str, token: str | None) -> dict[str, Any] | None:
    """The position a token names; InvalidNextTokenException for one this listing did not make."""
    if token is None:
        return None
    try:
        padded = token + "=" * (-len(token) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidNextTokenException("The next token is not valid.") from None
    if not isinstance(data, dict) or data.get("k") != kind or not isinstance(data.get("p"), dict):
        raise InvalidNextTokenException("The next token is not valid.")
    position: dict[str, Any] = data["p"]
    return position
