"""What the CLI commands that talk to a running Stageline over its REST API share: the keys
they sign in with, the endpoint options, and one way to turn a failed call into a readable
exit (the server's error code and message, never a traceback)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

import httpx

from stageline.identity import CREDENTIALS_FILE
from stageline.settings import Settings


def credentials(settings: Settings, command: str) -> tuple[str, str]:
    """The root keys from the settings, the AWS_* environment, or the data dir's file."""
    if settings.root_access_key_id and settings.root_secret_access_key:
        return settings.root_access_key_id, settings.root_secret_access_key.get_secret_value()
    if os.environ.get("AWS_ACCESS_KEY_ID") and os.environ.get("AWS_SECRET_ACCESS_KEY"):
        return os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"]
    path = settings.data_dir / CREDENTIALS_FILE
    if path.exists():
        data = json.loads(path.read_text())
        return data["access_key_id"], data["secret_access_key"]
    raise SystemExit(
        f"{command}: no credentials; set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or "
        "--data-dir to the server's data dir."
    )


def answer(command: str, where: object, send: Callable[[], httpx.Response]) -> Any:
    """The JSON of a successful call; otherwise exit with what went wrong."""
    try:
        response = send()
    except httpx.HTTPError as exc:
        raise SystemExit(f"{command}: cannot reach {where}: {exc}") from None
    if response.status_code >= 400:
        try:
            error = response.json().get("error", {})
        except ValueError:
            error = {"code": response.status_code, "message": response.text[:200]}
        raise SystemExit(f"{command}: {error.get('code')}: {error.get('message')}")
    return response.json()


def add_endpoint_options(parser: Any) -> None:
    parser.add_argument(
        "--endpoint-url",
        default=os.environ.get("STAGELINE_ENDPOINT", "http://127.0.0.1:8080"),
        help="the Stageline server (default $STAGELINE_ENDPOINT or http://127.0.0.1:8080)",
    )
    parser.add_argument("--data-dir", help="read the generated keys from this data dir")
