"""`stageline connections list` and `stageline connections complete ARN (--token-file F |
--ssh-key F | --username U --password-file F | --anonymous)`: finishing a connection with its
credentials over the REST API (AWS does that step in its console). Secrets are read from
files, never from the command line, and never printed."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from stageline.cli_http import add_endpoint_options, answer, credentials
from stageline.settings import Settings

COMMAND = "stageline connections"


def _connection_id(arn_or_id: str) -> str:
    return arn_or_id.rsplit("/", 1)[-1]


def _request(
    args: argparse.Namespace, settings: Settings, method: str, path: str, body: Any = None
) -> Any:
    url = args.endpoint_url.rstrip("/") + path
    auth = credentials(settings, COMMAND, args.profile)
    return answer(
        COMMAND,
        args.endpoint_url,
        lambda: httpx.request(method, url, json=body, auth=auth, timeout=60),
    )


def _secret(path: str, *, strip: bool = True) -> str:
    try:
        text = Path(path).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "not a text file"
        raise SystemExit(f"stageline connections: cannot read {path}: {why}") from None
    return text.strip() if strip else text


def _body(args: argparse.Namespace) -> dict[str, Any]:
    if args.anonymous:
        return {"anonymous": True}
    if args.token_file:
        return {"token": _secret(args.token_file)}
    if args.ssh_key:
        return {"sshPrivateKey": _secret(args.ssh_key, strip=False)}  # keeps the final newline
    if args.username and args.password_file:
        return {"username": args.username, "password": _secret(args.password_file)}
    raise SystemExit(
        "stageline connections complete: give --token-file, --ssh-key, --username with "
        "--password-file, or --anonymous"
    )


def _line(c: dict[str, Any]) -> str:
    return f"{c['connectionArn']}  {c['status']}  {c['providerType']}  {c['providerEndpoint']}"


def cmd_connections(args: argparse.Namespace, settings: Settings) -> int:
    if args.connections_command == "list":
        for connection in _request(args, settings, "GET", "/api/v1/connections")["connections"]:
            print(_line(connection))
        return 0
    path = f"/api/v1/connections/{_connection_id(args.connection)}/credentials"
    connection = _request(args, settings, "PUT", path, _body(args))["connection"]
    print(_line(connection))
    print(f"webhook URL: {connection['webhookUrl']}")
    return 0


def add_parser(sub: Any, run: Callable[[argparse.Namespace], int]) -> None:
    parser = sub.add_parser("connections", help="list connections, or complete one")
    commands = parser.add_subparsers(dest="connections_command", required=True)
    listing = commands.add_parser("list", help="connections with status and host")
    complete = commands.add_parser("complete", help="give a PENDING connection its credentials")
    complete.add_argument("connection", help="the connection's ARN (or its id)")
    kind = complete.add_mutually_exclusive_group(required=True)
    kind.add_argument("--token-file", help="a file holding an access token")
    kind.add_argument("--ssh-key", help="a file holding an SSH private key")
    kind.add_argument("--username", help="with --password-file: HTTP basic credentials")
    kind.add_argument("--anonymous", action="store_true", help="public or file:// remotes")
    complete.add_argument("--password-file", help="a file holding the password")
    for p in (listing, complete):
        add_endpoint_options(p)
        p.set_defaults(func=run)
