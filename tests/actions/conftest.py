"""Shared fixtures for provider tests: a real FolderStore, a log collecting text, a context
builder, and zip helpers."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from stageline.actions.base import ActionContext, InputArtifact, OutputArtifact
from stageline.artifacts.base import ObjectRef
from stageline.artifacts.folder import FolderStore
from stageline.domain.action_types import ActionTypeId

ARTIFACTS = "artifacts"
Files = Mapping[str, str | bytes]


class LogCollector:
    """A LogSink keeping every write, in order."""

    def __init__(self) -> None:
        self.chunks: list[str] = []

    def write(self, text: str) -> None:
        self.chunks.append(text)

    @property
    def text(self) -> str:
        return "".join(self.chunks)


def zip_bytes(files: Files) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


@pytest.fixture
def store(tmp_path: Path) -> FolderStore:
    folder = FolderStore(tmp_path / "store")
    folder.ensure_bucket(ARTIFACTS)
    return folder


@pytest.fixture
def log() -> LogCollector:
    return LogCollector()


@pytest.fixture
def put_zip(store: FolderStore) -> Callable[[str, Files], ObjectRef]:
    """Upload a zip of `files` as an artifact; returns where it is."""

    def put(key: str, files: Files) -> ObjectRef:
        store.put_bytes(ARTIFACTS, key, zip_bytes(files))
        return ObjectRef(ARTIFACTS, key)

    return put


@pytest.fixture
def read_zip(store: FolderStore, tmp_path: Path) -> Callable[[ObjectRef], dict[str, bytes]]:
    """The members of the zip stored at a location."""

    def read(ref: ObjectRef) -> dict[str, bytes]:
        dest = tmp_path / "downloaded.zip"
        store.get_file(ref.bucket, ref.key, dest)
        with zipfile.ZipFile(dest) as archive:
            return {n: archive.read(n) for n in archive.namelist() if not n.endswith("/")}

    return read


@pytest.fixture
def make_ctx(store: FolderStore, log: LogCollector, tmp_path: Path) -> Callable[..., ActionContext]:
    """An ActionContext with sensible defaults; keyword arguments override any field."""
    counter = iter(range(1_000_000))

    def make(
        type_id: ActionTypeId,
        *,
        configuration: Mapping[str, str] | None = None,
        inputs: Sequence[InputArtifact] = (),
        outputs: Sequence[OutputArtifact] = (),
        **fields: Any,
    ) -> ActionContext:
        workspace = tmp_path / f"workspace-{next(counter)}"
        workspace.mkdir()
        values: dict[str, Any] = {
            "pipeline_name": "demo",
            "pipeline_execution_id": "exec-1",
            "stage_name": "Stage",
            "action_name": "Action",
            "action_execution_id": "action-exec-1",
            "type_id": type_id,
            "configuration": dict(configuration or {}),
            "inputs": list(inputs),
            "outputs": list(outputs),
            "store": store,
            "workspace": workspace,
            "log": log,
            "timeout_seconds": 60.0,
            "cancelled": lambda: False,
        }
        values.update(fields)
        return ActionContext(**values)

    return make
