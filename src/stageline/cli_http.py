"""What the CLI commands that talk to a running Stageline over its REST API share: the keys
they sign in with, the endpoint options, and one way to turn a failed call into a readable
exit (the server's error code and message, never a traceback)."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable, Sequence
from typing import Any

import botocore.exceptions
import botocore.session
import httpx

from stageline.identity import CREDENTIALS_FILE
from stageline.settings import Settings


def credentials(settings: Settings, command: str, profile: str | None = None) -> tuple[str, str]:
    """The root keys from the settings; else the AWS CLI profile `profile` (--profile); else
    AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY; else the AWS_PROFILE profile; else the data dir's
    file; else botocore's chain (the default profile of ~/.aws/credentials or config, ...)."""
    if settings.root_access_key_id and settings.root_secret_access_key:
        return settings.root_access_key_id, settings.root_secret_access_key.get_secret_value()
    if profile:
        return _botocore_keys(command, profile)
    if os.environ.get("AWS_ACCESS_KEY_ID") and os.environ.get("AWS_SECRET_ACCESS_KEY"):
        return os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"]
    if os.environ.get("AWS_PROFILE"):
        return _botocore_keys(command, os.environ["AWS_PROFILE"])
    path = settings.data_dir / CREDENTIALS_FILE
    if path.exists():
        data = json.loads(path.read_text())
        return data["access_key_id"], data["secret_access_key"]
    return _botocore_keys(command, None)


def _botocore_keys(command: str, profile: str | None) -> tuple[str, str]:
    """Keys as the AWS CLI finds them (Stageline's keys are plain key pairs: no token)."""
    try:
        found = botocore.session.Session(profile=profile).get_credentials()
        frozen = found.get_frozen_credentials() if found is not None else None
    except botocore.exceptions.BotoCoreError as exc:  # an unknown profile, a broken file
        raise SystemExit(f"{command}: cannot read AWS credentials: {exc}") from None
    if frozen is None or not frozen.access_key or not frozen.secret_key:
        raise SystemExit(
            f"{command}: no credentials; set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, use an "
            "AWS CLI profile (--profile or AWS_PROFILE), or --data-dir to the server's data dir."
        )
    return frozen.access_key, frozen.secret_key


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
    parser.add_argument(
        "--profile",
        action=_ProfileAction,
        help="sign in with this AWS CLI profile's keys (~/.aws/credentials or ~/.aws/config)",
    )


class _ProfileAction(argparse.Action):
    """--profile also becomes AWS_PROFILE, as with the AWS CLI, so every command's credential
    lookup sees it, however it calls `credentials`."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        setattr(namespace, self.dest, values)
        os.environ["AWS_PROFILE"] = str(values)
