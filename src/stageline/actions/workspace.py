"""Helpers the built-in providers share: artifacts in and out of an attempt's workspace.

Layout of `ctx.workspace` (in the data directory, the worker's alone):
  src/          the first input artifact, extracted (CodeBuild's primary source)
  <name>/       every other input artifact, extracted (`.src/` for one named "src")
  .stageline/   scratch space of Stageline itself (zips in transit);
                artifact names match [A-Za-z0-9_-]+, so no input can land on a dot name.
The Commands action extracts its inputs the same way into its build directory instead, where
`.stageline/` belongs to the build engine (HOME, TMPDIR, the shell session).
"""

from __future__ import annotations

import zipfile
from collections.abc import Mapping
from pathlib import Path

from stageline.actions.base import ActionContext, Failed, InputArtifact, OutputArtifact
from stageline.artifacts.base import ObjectInfo, ObjectNotFound
from stageline.artifacts.zips import UnsafeArchive, extract_zip, pack_directory

PRIMARY_DIR = "src"
SCRATCH_DIR = ".stageline"
ALL_FILES = ("**/*",)


class ActionError(Exception):
    """A failure the provider reports as its Failed outcome rather than as a crash."""

    def __init__(self, message: str, code: str = "JobFailed") -> None:
        super().__init__(message)
        self.message = message
        self.code = code

    def outcome(self) -> Failed:
        return Failed(message=self.message, code=self.code)


def required(config: Mapping[str, str], name: str) -> str:
    """A configuration property the provider cannot run without (ConfigurationError if blank)."""
    value = config.get(name, "").strip()
    if not value:
        raise ActionError(f"Configuration property {name} is required", "ConfigurationError")
    return value


def files(count: int) -> str:
    return f"{count} file" if count == 1 else f"{count} files"


def s3_url(bucket: str, key: str = "") -> str:
    return f"s3://{bucket}/{key}"


def scratch(ctx: ActionContext) -> Path:
    path = ctx.workspace / SCRATCH_DIR
    path.mkdir(parents=True, exist_ok=True)
    return path


def input_dirs(ctx: ActionContext, root: Path) -> dict[str, Path]:
    """Where each input artifact goes under root, in declaration order (the first one is
    primary)."""
    dirs: dict[str, Path] = {}
    for index, artifact in enumerate(ctx.inputs):
        if index == 0:
            dirs[artifact.name] = root / PRIMARY_DIR
        elif artifact.name == PRIMARY_DIR:
            dirs[artifact.name] = root / f".{PRIMARY_DIR}"
        else:
            dirs[artifact.name] = root / artifact.name
    return dirs


def download_artifact(ctx: ActionContext, artifact: InputArtifact) -> Path:
    """The input artifact's zip, as is, in the scratch directory."""
    dest = scratch(ctx) / f"{artifact.name}.zip"
    ref = artifact.location
    try:
        ctx.store.get_file(ref.bucket, ref.key, dest)
    except ObjectNotFound:
        raise ActionError(
            f"Input artifact {artifact.name} was not found at {s3_url(ref.bucket, ref.key)}"
        ) from None
    return dest


def download_inputs(ctx: ActionContext, root: Path | None = None) -> dict[str, Path]:
    """Download and safely extract every input artifact under root (ctx.workspace by default);
    name -> directory, primary first. The zips pass through the scratch directory."""
    dirs = input_dirs(ctx, ctx.workspace if root is None else root)
    for artifact in ctx.inputs:
        archive = download_artifact(ctx, artifact)
        try:
            count = extract_zip(archive, dirs[artifact.name])
        except UnsafeArchive as exc:
            raise ActionError(f"Input artifact {artifact.name} was refused: {exc}") from None
        except zipfile.BadZipFile:
            raise ActionError(f"Input artifact {artifact.name} is not a zip file") from None
        finally:
            archive.unlink(missing_ok=True)
        dirs[artifact.name].mkdir(parents=True, exist_ok=True)  # an empty zip makes none
        ctx.log.write(f"[Stageline] Extracted {files(count)} of {artifact.name}\n")
    return dirs


def upload_output(ctx: ActionContext, output: OutputArtifact, source_dir: Path) -> ObjectInfo:
    """Zip the files of source_dir matching output.files (all when none) and upload the zip."""
    archive = scratch(ctx) / f"{output.name}.output.zip"
    patterns = tuple(output.files) or ALL_FILES
    try:
        try:
            count = pack_directory(source_dir, archive, patterns=patterns)
        except ValueError as exc:  # a glob leaving the directory, two entries with one name
            raise ActionError(
                f"Output artifact {output.name}: {exc}", "ConfigurationError"
            ) from None
        if count == 0:
            # CodeBuild's wording for the same situation.
            raise ActionError(
                f"CLIENT_ERROR: no matching artifact paths found for output artifact "
                f"{output.name} (files: {', '.join(patterns)})"
            )
        ref = output.location
        info = ctx.store.put_file(
            ref.bucket, ref.key, archive, headers={"ContentType": "application/zip"}
        )
    except ObjectNotFound:
        raise ActionError(
            f"The artifact store bucket {output.location.bucket} does not exist"
        ) from None
    finally:
        archive.unlink(missing_ok=True)
    ctx.log.write(f"[Stageline] Uploaded {files(count)} as output artifact {output.name}\n")
    return info
