"""The `stageline` command: serve, db upgrade/downgrade, worker, logs, job-worker, --version."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from sqlalchemy.exc import OperationalError

from stageline import __version__, cli_connections, cli_logs, job_worker
from stageline.settings import Settings


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {}
    if getattr(args, "data_dir", None):
        overrides["data_dir"] = Path(args.data_dir).expanduser().resolve()
    return Settings(**overrides)  # type: ignore[arg-type]


def _banner(settings: Settings, host: str, port: int, keys: object) -> str:
    from stageline.identity import KeyStore

    assert isinstance(keys, KeyStore)
    shown = "localhost" if host in ("0.0.0.0", "127.0.0.1", "::") else host
    url = f"http://{shown}:{port}"
    lines = [
        f"Stageline {__version__} on {url}",
        f"  AWS endpoint : {url}   (aws codepipeline ... --endpoint-url {url})",
        f"  REST API docs: {url}/docs",
        f"  Health       : {url}/healthz",
        f"  Database     : {_redact(settings.resolved_database_url)}",
        f"  Executor     : {_executor(settings)}",
        f"  Region       : {settings.region}, account {settings.account_id}",
        "",
    ]
    if keys.generated:
        lines += [
            f"A root access key was generated (shown this once; kept in {keys.credentials_path}):",
            f"  aws configure set aws_access_key_id {keys.root.access_key_id}",
            f"  aws configure set aws_secret_access_key {keys.root.secret_access_key}",
            f"  aws configure set region {settings.region}",
        ]
    else:
        where = keys.credentials_path or "STAGELINE_ROOT_* environment variables"
        lines.append(f"Root access key id {keys.root.access_key_id} (secret in {where}).")
    return "\n".join(lines)


def _executor(settings: Settings) -> str:
    if settings.broker_url:
        return f"Celery workers on {_redact(settings.broker_url)} (run `stageline worker`)"
    return f"in-process, {settings.workers} threads"


def _redact(url: str | None) -> str:
    """A URL without its password, for printing."""
    if not url or "@" not in url or "://" not in url:
        return url or ""
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in creds else f"{scheme}://{user}@{host}"


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from stageline.app import create_app
    from stageline.persistence import migrate
    from stageline.runtime import Runtime

    settings = _settings(args)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(settings.resolved_database_url)
    runtime = Runtime.from_settings(settings, role="serve")
    print(_banner(settings, args.host, args.port, runtime.keys), flush=True)
    uvicorn.run(
        create_app(runtime),
        host=args.host,
        port=args.port,
        log_level=settings.log_level,
        access_log=args.access_log,
        # Open event streams (console tabs, log follows) would otherwise hold a stop forever.
        timeout_graceful_shutdown=5,
    )
    return 0


def cmd_db(args: argparse.Namespace) -> int:
    from stageline.persistence import migrate

    settings = _settings(args)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    url = settings.resolved_database_url
    if args.db_command == "upgrade":
        migrate.upgrade(url, args.revision)
    else:
        migrate.downgrade(url, args.revision)
    print(f"database {_redact(url)} at revision {migrate.current(url) or 'base'}")
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from stageline.dispatch.celery_app import QUEUE, register_tasks
    from stageline.persistence import migrate
    from stageline.runtime import Runtime

    settings = _settings(args)
    if not settings.broker_url:
        print(
            "stageline worker: set STAGELINE_BROKER_URL (e.g. redis://127.0.0.1:6379/0) so "
            "workers and the API share a queue. Without a broker, `stageline serve` runs "
            "executions itself.",
            file=sys.stderr,
        )
        return 2
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(settings.resolved_database_url)
    runtime = Runtime.from_settings(settings, role="worker")
    register_tasks(runtime.celery, runtime.runner.run, runtime.build_runner.run)
    runtime.start_background()
    concurrency = args.concurrency or settings.workers
    print(
        f"Stageline {__version__} worker: {concurrency} threads on "
        f"{_redact(settings.broker_url)}, database {_redact(settings.resolved_database_url)}",
        flush=True,
    )
    try:
        runtime.celery.worker_main(
            [
                "worker",
                "--pool=threads",
                f"--concurrency={concurrency}",
                "-Q",
                QUEUE,
                f"--loglevel={settings.log_level.upper()}",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-n",
                f"stageline-{os.getpid()}@%h",
            ]
        )
    finally:
        runtime.close()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stageline", description="Self-hosted continuous delivery, AWS CodePipeline's API."
    )
    parser.add_argument("--version", action="version", version=f"stageline {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the API (and, without a broker, the executor)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--data-dir", help="where SQLite, artifacts and keys live")
    serve.add_argument("--access-log", action="store_true", help="log every request")
    serve.set_defaults(func=cmd_serve)

    worker = sub.add_parser("worker", help="run action attempts from the Celery broker")
    worker.add_argument("--concurrency", type=int, help="threads (default STAGELINE_WORKERS)")
    worker.add_argument("--data-dir", help="workspaces (and the SQLite default) live here")
    worker.set_defaults(func=cmd_worker)

    cli_logs.add_parser(sub, lambda args: cli_logs.cmd_logs(args, _settings(args)))
    cli_connections.add_parser(
        sub, lambda args: cli_connections.cmd_connections(args, _settings(args))
    )
    job_worker.add_parser(sub)

    db = sub.add_parser("db", help="database migrations")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    up = db_sub.add_parser("upgrade", help="migrate to a revision (default: head)")
    up.add_argument("revision", nargs="?", default="head")
    down = db_sub.add_parser("downgrade", help="migrate down to a revision (default: base)")
    down.add_argument("revision", nargs="?", default="base")
    for p in (up, down):
        p.add_argument("--data-dir", help="data dir of the SQLite default")
    db.set_defaults(func=cmd_db)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except KeyboardInterrupt:
        code = 130
    except OperationalError as exc:
        # An unreachable or misconfigured database: a readable message, not a traceback.
        print(f"stageline: cannot use the database: {exc.orig or exc}", file=sys.stderr)
        code = 1
    return code


if __name__ == "__main__":
    sys.exit(main())
