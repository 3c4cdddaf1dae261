"""`stageline job-worker --category C --provider P --version V [options] -- COMMAND...`"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stageline.job_worker.worker import Options

DESCRIPTION = """\
Run COMMAND for every job of the custom action type CATEGORY/Custom/PROVIDER/VERSION:
poll CodePipeline (Stageline or AWS), acknowledge the job, extract its input artifacts into a
fresh workspace (the first one is the working directory), run COMMAND with the action
configuration in STAGELINE_CONFIG_<KEY> variables, upload what it wrote to
$STAGELINE_OUTPUT_DIR/<artifact name>/, and report success (with the NAME=VALUE lines of
$STAGELINE_OUTPUT_VARIABLES) or failure. Credentials, region and endpoints come from boto3's
standard configuration (AWS_ACCESS_KEY_ID, AWS_DEFAULT_REGION, AWS_ENDPOINT_URL, ...).
See docs/custom-actions.md."""

EPILOG = """\
example:
  AWS_ENDPOINT_URL=http://localhost:8080 stageline job-worker \\
      --category Test --provider MyTests --version 1 -- ./run-tests.sh"""


def _query(value: str) -> tuple[str, str]:
    key, sep, val = value.partition("=")
    if not sep or not key or not val:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {value!r}")
    return key, val


def _positive(value: str) -> float:
    number = float(value)
    if number <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {value}")
    return number


def add_parser(sub: Any, run: Callable[[argparse.Namespace], int] | None = None) -> None:
    parser = sub.add_parser(
        "job-worker",
        help="run a command for each job of a custom action type (a reference job worker)",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--category", required=True, help="Source, Build, Test, Deploy, ...")
    parser.add_argument("--provider", required=True)
    parser.add_argument("--version", required=True)
    parser.add_argument(
        "--endpoint-url", help="CodePipeline endpoint (default: boto3's configuration)"
    )
    parser.add_argument(
        "--s3-endpoint-url",
        help="S3 endpoint for artifacts (default: AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL)",
    )
    parser.add_argument("--region", help="default: AWS_DEFAULT_REGION / AWS_REGION")
    parser.add_argument(
        "--query",
        type=_query,
        metavar="KEY=VALUE",
        help="only jobs whose queryable property KEY is VALUE (PollForJobs queryParam)",
    )
    parser.add_argument(
        "--poll-interval",
        type=_positive,
        default=5.0,
        metavar="S",
        help="seconds between polls when idle; doubles while idle (default 5)",
    )
    parser.add_argument(
        "--max-poll-interval",
        type=_positive,
        default=60.0,
        metavar="S",
        help="the most the idle backoff waits (default 60)",
    )
    parser.add_argument("--once", action="store_true", help="handle one job, then exit")
    parser.add_argument(
        "--workspace-dir", type=Path, help="where job workspaces are made (default: temp dir)"
    )
    parser.add_argument(
        "--stop-grace",
        type=_positive,
        default=10.0,
        metavar="S",
        help="on SIGINT/SIGTERM, seconds the command gets after SIGTERM before SIGKILL",
    )
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND [ARGS...]")
    parser.set_defaults(func=run or cmd_job_worker)


def options_from(args: argparse.Namespace) -> Options:
    from stageline.job_worker.worker import Options

    argv = list(args.command)
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        raise SystemExit("stageline job-worker: give the command to run after `--`")
    argv[0] = resolve_program(argv[0])
    return Options(
        category=args.category,
        provider=args.provider,
        version=args.version,
        command=argv,
        endpoint_url=args.endpoint_url,
        s3_endpoint_url=args.s3_endpoint_url,
        region=args.region,
        query=dict([args.query]) if args.query else {},
        poll_interval=args.poll_interval,
        max_poll_interval=max(args.max_poll_interval, args.poll_interval),
        once=args.once,
        workspace_dir=args.workspace_dir,
        stop_grace=args.stop_grace,
    )


def resolve_program(program: str) -> str:
    """The command runs in each job's workspace: a relative path (./build.sh) means the
    directory the worker started in, so it is made absolute here; a bare name is looked up on
    PATH now, so a typo is an error at start rather than a failed job."""
    if "/" in program:
        path = os.path.abspath(program)
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            raise SystemExit(f"stageline job-worker: {program} is not an executable file")
        return path
    if shutil.which(program) is None:
        raise SystemExit(f"stageline job-worker: {program}: command not found on PATH")
    return program


def cmd_job_worker(args: argparse.Namespace) -> int:
    import boto3

    from stageline.job_worker.protocol import Fatal
    from stageline.job_worker.worker import JobWorker

    options = options_from(args)
    try:
        worker = JobWorker(options, boto3.session.Session(region_name=options.region))
    except Fatal as exc:
        print(f"stageline job-worker: {exc}", file=sys.stderr)
        return 1

    def stop(signum: int, _frame: object) -> None:
        worker.request_stop(signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    return worker.run()
