"""Choose the object store the settings name (composition roots call this)."""

from __future__ import annotations

from stageline.artifacts.base import ObjectStore
from stageline.settings import Settings


def object_store(settings: Settings) -> ObjectStore:
    """`folder`: FolderStore under settings.artifacts_dir; `s3`: S3Store on boto3's defaults."""
    if settings.artifact_store == "folder":
        from stageline.artifacts.folder import FolderStore

        return FolderStore(settings.artifacts_dir)
    if settings.artifact_store == "s3":
        from stageline.artifacts.s3 import S3Store

        return S3Store()
    raise ValueError(f"unknown artifact store {settings.artifact_store!r}")
