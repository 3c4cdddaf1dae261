"""`stageline logs PIPELINE [--execution ID] [--action NAME] [--follow]` and
`stageline logs --build ID [--follow]`: action and build logs from a running Stageline over its
REST API, following live actions and builds as they write."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import httpx

from stageline.cli_http import add_endpoint_options, answer, credentials
from stageline.settings import Settings

TERMINAL = {"Succeeded", "Failed", "Stopped", "Superseded", "Cancelled"}


COMMAND = "stageline logs"


class _Api:
    def __init__(self, endpoint: str, auth: tuple[str, str]) -> None:
        self.client = httpx.Client(base_url=endpoint.rstrip("/"), auth=auth, timeout=None)

    def get(self, path: str, **params: Any) -> Any:
        query = {k: v for k, v in params.items() if v}
        return answer(COMMAND, self.client.base_url, lambda: self.client.get(path, params=query))


def cmd_logs(args: argparse.Namespace, settings: Settings) -> int:
    api = _Api(args.endpoint_url, credentials(settings, COMMAND))
    if args.build:
        api.get(f"/api/v1/builds/{quote(args.build, safe='')}")  # a clear error if unknown
        _stream(api, f"/api/v1/builds/{quote(args.build, safe='')}/logs", args.follow)
        return 0
    if not args.pipeline:
        raise SystemExit("stageline logs: name a pipeline, or a build with --build ID.")
    base = f"/api/v1/pipelines/{args.pipeline}"
    execution = args.execution
    if execution is None:
        rows = api.get(f"{base}/executions", maxResults=1)["pipelineExecutionSummaries"]
        if not rows:
            raise SystemExit(f"stageline logs: pipeline {args.pipeline} has no executions yet.")
        execution = rows[0]["pipelineExecutionId"]
    shown: set[str] = set()
    while True:
        # The status first: once it is terminal, the listing below holds every action.
        status = api.get(f"{base}/executions/{execution}")["pipelineExecution"]["status"]
        actions = _actions(api, base, execution, args.action)
        for detail in actions:
            key = detail["actionExecutionId"]
            if key in shown:
                continue
            shown.add(key)
            print(
                f"==> {detail['stageName']}/{detail['actionName']} ({detail['status']}) <==",
                flush=True,
            )
            _print_log(api, base, execution, detail["actionName"], args.follow)
        if not args.follow or status in TERMINAL:
            return 0
        time.sleep(0.5)


def _actions(api: _Api, base: str, execution: str, only: str | None) -> list[dict[str, Any]]:
    rows = api.get(f"{base}/action-executions", pipelineExecutionId=execution)
    details = sorted(rows["actionExecutionDetails"], key=lambda d: d["startTime"])
    return [d for d in details if only is None or d["actionName"] == only]


def _print_log(api: _Api, base: str, execution: str, action: str, follow: bool) -> None:
    _stream(api, f"{base}/executions/{execution}/actions/{action}/logs", follow)


def _stream(api: _Api, path: str, follow: bool) -> None:
    with api.client.stream("GET", path, params={"follow": str(follow).lower()}) as response:
        for chunk in response.iter_text():
            sys.stdout.write(chunk)
            sys.stdout.flush()


def add_parser(sub: Any, run: Callable[[argparse.Namespace], int]) -> None:
    logs = sub.add_parser(
        "logs", help="print (or follow) the logs of a pipeline's actions, or of a build"
    )
    logs.add_argument("pipeline", nargs="?")
    logs.add_argument("--build", help="a build id (project:uuid): print its log instead")
    logs.add_argument("--execution", help="execution id (default: the latest)")
    logs.add_argument("--action", help="only this action")
    logs.add_argument("--follow", "-f", action="store_true", help="keep printing as it runs")
    add_endpoint_options(logs)
    logs.set_defaults(func=run)
