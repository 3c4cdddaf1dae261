"""docker-compose.yml describes a topology Stageline can actually run."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from stageline.cli import build_parser
from stageline.settings import Settings

REPO = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
STAGELINE_SERVICES = ("api", "worker")


def environment(service: str) -> dict[str, str]:
    env = SERVICES[service].get("environment") or {}
    if isinstance(env, list):  # the KEY=VALUE list form
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def command(service: str) -> list[str]:
    cmd = SERVICES[service].get("command")
    return shlex.split(cmd) if isinstance(cmd, str) else [str(c) for c in cmd or []]


def published(service: str) -> dict[int, int]:
    """host port -> container port."""
    mapping: dict[int, int] = {}
    for entry in SERVICES[service].get("ports") or []:
        if isinstance(entry, dict):
            mapping[int(entry["published"])] = int(entry["target"])
        else:
            parts = str(entry).split("/")[0].split(":")
            mapping[int(parts[-2])] = int(parts[-1])
    return mapping


def test_services_exist() -> None:
    assert {"api", "worker", "postgres", "redis", "minio"} <= set(SERVICES)


@pytest.mark.parametrize("service", STAGELINE_SERVICES)
def test_stageline_services_reach_the_shared_backends(service: str) -> None:
    env = environment(service)

    database = urlsplit(env["STAGELINE_DATABASE_URL"])
    assert database.scheme in ("postgresql", "postgres", "postgresql+psycopg")
    assert database.hostname == "postgres"
    assert (database.port or 5432) == 5432
    pg = environment("postgres")
    assert database.username == pg["POSTGRES_USER"]
    assert database.password == pg["POSTGRES_PASSWORD"]
    assert database.path.lstrip("/") == pg["POSTGRES_DB"]

    broker = urlsplit(env["STAGELINE_BROKER_URL"])
    assert broker.scheme == "redis"
    assert broker.hostname == "redis"
    assert (broker.port or 6379) == 6379

    assert env["STAGELINE_ARTIFACT_STORE"] == "s3"
    s3 = urlsplit(env["AWS_ENDPOINT_URL_S3"])
    assert s3.hostname == "minio"
    assert s3.port == 9000  # MinIO's S3 API port (the console is on 9001)
    assert command("minio")[0] == "server"
    minio = environment("minio")
    assert env["AWS_ACCESS_KEY_ID"] == minio["MINIO_ROOT_USER"]
    assert env["AWS_SECRET_ACCESS_KEY"] == minio["MINIO_ROOT_PASSWORD"]


def test_api_and_worker_share_one_configuration() -> None:
    api, worker = environment("api"), environment("worker")
    shared = {k for k in api if k.startswith("STAGELINE_")}
    assert shared == {k for k in worker if k.startswith("STAGELINE_")}
    for key in shared:
        assert api[key] == worker[key], key
    # Every replica must accept the same keys, so they cannot be generated per container.
    assert api["STAGELINE_ROOT_ACCESS_KEY_ID"]
    assert api["STAGELINE_ROOT_SECRET_ACCESS_KEY"]


def test_api_serves_on_8080() -> None:
    assert published("api").get(8080) == 8080
    cmd = command("api")
    assert cmd[:2] == ["stageline", "serve"]
    assert cmd[cmd.index("--port") + 1] == "8080"
    assert cmd[cmd.index("--host") + 1] == "0.0.0.0"
    health = " ".join(str(part) for part in SERVICES["api"]["healthcheck"]["test"])
    assert "8080/healthz" in health
    depends = SERVICES["api"]["depends_on"]
    assert depends["postgres"]["condition"] == "service_healthy"
    assert "healthcheck" in SERVICES["postgres"]


@pytest.mark.parametrize("service", STAGELINE_SERVICES)
def test_commands_are_stageline_subcommands(service: str) -> None:
    cmd = command(service)
    assert cmd[0] == "stageline"
    try:
        args = build_parser().parse_args(cmd[1:])
    except SystemExit:
        pytest.fail(f"`{shlex.join(cmd)}` is not a valid stageline command line")
    assert args.command == cmd[1]


def build_contexts() -> list[tuple[str, Path, Path]]:
    found = []
    for name, service in SERVICES.items():
        build = service.get("build")
        if build is None:
            continue
        if isinstance(build, str):
            context, dockerfile = build, "Dockerfile"
        else:
            context, dockerfile = build.get("context", "."), build.get("dockerfile", "Dockerfile")
        found.append((name, REPO / context, REPO / context / dockerfile))
    return found


def test_every_build_context_has_its_dockerfile() -> None:
    contexts = build_contexts()
    assert {name for name, _, _ in contexts} >= set(STAGELINE_SERVICES)
    for name, context, dockerfile in contexts:
        assert context.is_dir(), f"{name}: build context {context} is missing"
        assert dockerfile.is_file(), f"{name}: {dockerfile} is missing"


def test_dockerfile_copies_files_that_exist() -> None:
    for name, context, dockerfile in build_contexts():
        for line in dockerfile.read_text().splitlines():
            words = line.split()
            if not words or words[0].upper() not in ("COPY", "ADD"):
                continue
            if any(w.startswith("--from") for w in words[1:]):
                continue  # copied from another build stage, not from the context
            args = [w for w in words[1:] if not w.startswith("--")]
            for source in args[:-1]:
                assert (context / source).exists(), f"{name}: {line.strip()!r}: {source} missing"


def test_stageline_variables_are_settings() -> None:
    fields = set(Settings.model_fields)
    prefix = Settings.model_config.get("env_prefix", "")
    assert prefix == "STAGELINE_"
    for service in SERVICES:
        for key in environment(service):
            if key.startswith(prefix):
                assert key[len(prefix) :].lower() in fields, (
                    f"{service} sets {key}, which no Settings field reads"
                )


def test_compose_environment_is_valid_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(Settings.model_fields):
        monkeypatch.delenv(f"STAGELINE_{key.upper()}", raising=False)
    for key, value in environment("api").items():
        monkeypatch.setenv(key, value)
    settings = Settings()
    assert settings.artifact_store == "s3"
    assert settings.broker_url == environment("api")["STAGELINE_BROKER_URL"]
    assert settings.resolved_database_url.startswith("postgresql+psycopg://")
    assert settings.root_secret_access_key is not None
