"""Helpers for the build tests: projects, sources, waiting for builds, reading their logs."""

from __future__ import annotations

import io
import site
import time
import uuid
import zipfile
from pathlib import Path
from typing import Any

import httpx
from tests.executions.stack import Stack
from tests.support.servers import ACCESS_KEY_ID, SECRET_ACCESS_KEY

ENVIRONMENT = {
    "type": "LINUX_CONTAINER",
    "image": "aws/codebuild/standard:7.0",
    "computeType": "BUILD_GENERAL1_SMALL",
}
ROLE = "arn:aws:iam::000000000000:role/codebuild"
# pytest and what it imports, vendored into a source the way a project without network
# access ships its tools; the build runs it with the system's python3.
VENDORED = ("_pytest", "pytest", "pluggy", "iniconfig", "packaging", "py.py")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def buildspec(text: str) -> str:
    return text.strip("\n") + "\n"


def create_project(stack: Stack, name: str, **settings: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "name": name,
        "source": {"type": "NO_SOURCE", "buildspec": "version: 0.2\n"},
        "artifacts": {"type": "NO_ARTIFACTS"},
        "environment": ENVIRONMENT,
        "serviceRole": ROLE,
    }
    params.update(settings)
    project: dict[str, Any] = stack.codebuild().create_project(**params)["project"]
    return project


def start_build(stack: Stack, project: str, **params: Any) -> str:
    return str(stack.codebuild().start_build(projectName=project, **params)["build"]["id"])


def get_build(stack: Stack, build_id: str) -> dict[str, Any]:
    builds = stack.codebuild().batch_get_builds(ids=[build_id])["builds"]
    assert len(builds) == 1, builds
    build: dict[str, Any] = builds[0]
    return build


def wait_build(stack: Stack, build_id: str, timeout: float = 90) -> dict[str, Any]:
    """Poll BatchGetBuilds until the build is complete; fail with its log otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        build = get_build(stack, build_id)
        if build["buildComplete"]:
            return build
        time.sleep(0.2)
    raise AssertionError(
        f"build {build_id} still running after {timeout:g} s\n{build_log(stack, build_id)}\n"
        f"{stack.logs()}"
    )


def rest(stack: Stack) -> httpx.Client:
    return httpx.Client(
        base_url=stack.server.url, auth=(ACCESS_KEY_ID, SECRET_ACCESS_KEY), timeout=60
    )


def build_log(stack: Stack, build_id: str) -> str:
    with rest(stack) as client:
        response = client.get(f"/api/v1/builds/{build_id}/logs")
    assert response.status_code == 200, response.text
    return response.text


def phases(build: dict[str, Any]) -> dict[str, str]:
    return {p["phaseType"]: p.get("phaseStatus", "") for p in build["phases"]}


def zip_of(files: dict[str, str | bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def vendored_pytest() -> dict[str, str | bytes]:
    """pytest's own files, to put under vendor/ in a source zip."""
    root = Path(site.getsitepackages()[0])
    files: dict[str, str | bytes] = {}
    for name in VENDORED:
        path = root / name
        paths = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        for item in paths:
            if "__pycache__" not in item.parts:
                files[f"vendor/{item.relative_to(root).as_posix()}"] = item.read_bytes()
    return files
