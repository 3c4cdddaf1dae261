"""One build from start to end, CodeBuild's phases in order: PROVISIONING (a fresh, isolated
workspace), DOWNLOAD_SOURCE (sources, buildspec, cache, secrets), the buildspec's phases (the
engine), UPLOAD_ARTIFACTS (artifacts, test reports, cache), FINALIZING, COMPLETED.

Who runs it — the build runner for StartBuild, the CodeBuild action inside its attempt —
decides where the log goes and when to cancel; everything else is the same.
"""

from __future__ import annotations

import shutil
import uuid
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import update

from stageline.artifacts.base import ObjectNotFound, ObjectRef, ObjectStore
from stageline.artifacts.zips import UnsafeArchive, extract_zip
from stageline.builds import sandbox
from stageline.builds.buildspec import parse_buildspec
from stageline.builds.engine import run_phases
from stageline.builds.model import BuildOutcome, BuildRequest, BuildSpec, BuildspecError, LogSink
from stageline.builds.reports import case_to_wire, collect_reports, summary_to_wire
from stageline.domain.arns import Arns
from stageline.persistence.db import Database
from stageline.persistence.models import Build, BuildReport
from stageline.services.build_outputs import (
    BuildFailure,
    OutputTarget,
    restore_cache,
    save_cache,
    upload_outputs,
)
from stageline.services.build_phases import PhaseBook, say
from stageline.services.build_secrets import resolve_environment

DEFAULT_BUILDSPEC = "buildspec.yml"


@dataclass(frozen=True)
class SourceInput:
    identifier: str | None  # None: the primary source
    ref: ObjectRef | None  # a zip in the store; None: NO_SOURCE
    version: str | None = None


@dataclass
class BuildJob:
    """Everything a build needs, read from its row when it starts."""

    pk: int
    build_id: str
    project_name: str
    build_number: int
    initiator: str
    document: dict[str, Any]
    source_version: str | None
    phases: list[dict[str, Any]]
    started_at: datetime
    sources: list[SourceInput]
    outputs: list[OutputTarget]
    timeout_seconds: float
    pipeline: bool = False


@dataclass
class BuildResult:
    status: str
    message: str | None = None
    failed_phase: str | None = None
    exported: Mapping[str, str] = field(default_factory=dict)
    log_tail: tuple[str, ...] = ()
    outputs: dict[str, Any] = field(default_factory=dict)
    resolved_source_version: str | None = None
    phases: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class BuildSettings:
    build_dir: Path
    region: str
    public_url: str


class BuildExecution:
    def __init__(
        self, db: Database, store: ObjectStore, arns: Arns, settings: BuildSettings
    ) -> None:
        self.db, self.store, self.arns, self.settings = db, store, arns, settings

    def execute(self, job: BuildJob, log: LogSink, cancelled: Callable[[], bool]) -> BuildResult:
        book = PhaseBook(self.db, job.pk, job.phases)
        book.start("PROVISIONING")
        root = sandbox.create_workspace_root(self.settings.build_dir)
        workspace = sandbox.create_build_directory(root, job.build_id)
        try:
            result = self._run(job, workspace, book, log, cancelled)
        except BuildFailure as failure:
            book.end("FAILED", failure.code, failure.message)
            say(log, f"Phase context status code: {failure.code} Message: {failure.message}")
            result = BuildResult("FAILED", failure.message, book.phases[-1]["phaseType"])
        finally:
            shutil.rmtree(workspace, ignore_errors=True)
        book.start("FINALIZING")
        book.complete()
        result.phases = book.phases
        return result

    def _run(
        self,
        job: BuildJob,
        workspace: Path,
        book: PhaseBook,
        log: LogSink,
        cancelled: Callable[[], bool],
    ) -> BuildResult:
        book.start("DOWNLOAD_SOURCE")
        dirs, resolved = self._download_sources(job, workspace, log)
        spec = _buildspec(job.document, dirs[None])
        restore_cache(self.store, job.project_name, job.document, spec, workspace, log)
        env, secrets = resolve_environment(spec, job.document)
        book.end("SUCCEEDED")
        outcome = run_phases(
            BuildRequest(
                build_id=job.build_id,
                spec=spec,
                workspace=workspace,
                src_dir=dirs[None],
                environment={**env, **self._codebuild_env(job, dirs, resolved)},
                secrets=secrets,
                timeout_seconds=job.timeout_seconds,
                cancelled=cancelled,
                log=log,
                on_phase=book.record,
                image=(job.document.get("environment") or {}).get("image"),
            )
        )
        return self._finish(job, spec, outcome, dirs[None], workspace, book, log, resolved)

    def _finish(
        self,
        job: BuildJob,
        spec: BuildSpec,
        outcome: BuildOutcome,
        src: Path,
        workspace: Path,
        book: PhaseBook,
        log: LogSink,
        resolved: str | None,
    ) -> BuildResult:
        result = BuildResult(
            outcome.status,
            outcome.message,
            outcome.failed_phase,
            dict(outcome.exported_variables),
            outcome.log_tail,
            resolved_source_version=resolved,
        )
        if outcome.status in ("STOPPED", "TIMED_OUT"):
            return result
        book.start("UPLOAD_ARTIFACTS")
        self._save_reports(job, spec, src, log)
        if outcome.status == "SUCCEEDED":
            try:
                result.outputs = upload_outputs(self.store, job.outputs, spec, src, log)
                save_cache(self.store, job.project_name, job.document, spec, workspace, log)
            except BuildFailure as failure:
                book.end("FAILED", failure.code, failure.message)
                say(log, f"Phase context status code: {failure.code} Message: {failure.message}")
                result.status, result.message = "FAILED", failure.message
                result.failed_phase = "UPLOAD_ARTIFACTS"
                return result
        book.end("SUCCEEDED")
        return result

    def _download_sources(
        self, job: BuildJob, workspace: Path, log: LogSink
    ) -> tuple[dict[str | None, Path], str | None]:
        dirs: dict[str | None, Path] = {}
        resolved = None
        for source in job.sources:
            dest = workspace / ("src" if source.identifier is None else f"src_{source.identifier}")
            dest.mkdir(parents=True, exist_ok=True)
            dirs[source.identifier] = dest
            if source.ref is None:
                continue
            version = self._fetch(source, dest, workspace, log)
            if source.identifier is None:
                resolved = version
        return dirs, resolved

    def _fetch(self, source: SourceInput, dest: Path, workspace: Path, log: LogSink) -> str | None:
        assert source.ref is not None
        ref, name = source.ref, source.identifier or "primary source"
        archive = workspace / f".{uuid.uuid4().hex}.zip"
        try:
            info = self.store.get_file(ref.bucket, ref.key, archive, version_id=source.version)
            count = extract_zip(archive, dest)
        except ObjectNotFound:
            raise BuildFailure(
                "CLIENT_ERROR", f"{name}: no object at s3://{ref.bucket}/{ref.key}"
            ) from None
        except (UnsafeArchive, zipfile.BadZipFile) as exc:
            raise BuildFailure(
                "CLIENT_ERROR", f"{name} s3://{ref.bucket}/{ref.key} is not a usable zip: {exc}"
            ) from None
        finally:
            archive.unlink(missing_ok=True)
        say(log, f"Downloaded {name} s3://{ref.bucket}/{ref.key}: {count} files into {dest}")
        return info.version_id or info.etag

    def _codebuild_env(
        self, job: BuildJob, dirs: Mapping[str | None, Path], resolved: str | None
    ) -> dict[str, str]:
        """The CODEBUILD_* variables CodeBuild sets; no project or override may change them."""
        doc = job.document
        source = doc.get("source") or {}
        env = {
            "CODEBUILD_CI": "true",
            "CODEBUILD_BUILD_ARN": self.arns.build(job.build_id),
            "CODEBUILD_BUILD_ID": job.build_id,
            "CODEBUILD_BUILD_NUMBER": str(job.build_number),
            "CODEBUILD_BUILD_IMAGE": (doc.get("environment") or {}).get("image", ""),
            "CODEBUILD_INITIATOR": job.initiator,
            "CODEBUILD_KMS_KEY_ID": doc.get("encryptionKey", ""),
            "CODEBUILD_LOG_PATH": job.build_id.split(":", 1)[-1],
            "CODEBUILD_PUBLIC_BUILD_URL": f"{self.settings.public_url.rstrip('/')}/builds",
            "CODEBUILD_RESOLVED_SOURCE_VERSION": resolved or "",
            "CODEBUILD_SOURCE_REPO_URL": source.get("location", ""),
            "CODEBUILD_SOURCE_VERSION": job.source_version or resolved or "",
            "CODEBUILD_SRC_DIR": str(dirs[None]),
            "CODEBUILD_START_TIME": str(int(job.started_at.timestamp() * 1000)),
            "AWS_REGION": self.settings.region,
            "AWS_DEFAULT_REGION": self.settings.region,
        }
        for ident, path in dirs.items():
            if ident is not None:
                env[f"CODEBUILD_SRC_DIR_{ident}"] = str(path)
        return env

    def _save_reports(self, job: BuildJob, spec: BuildSpec, src: Path, log: LogSink) -> None:
        if not spec.reports:
            return
        arns: list[str] = []
        with self.db.unit_of_work() as uow:
            for report in collect_reports(src, spec.reports):
                if report.type != "TEST":
                    say(log, f"Report {report.group}: code coverage reports are not kept yet")
                    continue
                # As CodeBuild: a group named in the buildspec is <project>-<name>.
                group_arn = report.group
                if not group_arn.startswith("arn:"):
                    group_arn = self.arns.report_group(f"{job.project_name}-{report.group}")
                arn = self.arns.report(group_arn.rsplit("/", 1)[-1], str(uuid.uuid4()))
                uow.session.add(
                    BuildReport(
                        arn=arn,
                        report_group_arn=group_arn,
                        build_pk=job.pk,
                        status=report.status,
                        summary=summary_to_wire(report.summary) if report.summary else {},
                        test_cases=[case_to_wire(c, report_arn=arn) for c in report.cases],
                        created_at=datetime.now(UTC),
                    )
                )
                arns.append(arn)
                say(log, f"Report {report.group}: {report.summary_line()}")
            uow.session.execute(update(Build).where(Build.pk == job.pk).values(report_arns=arns))


def _buildspec(document: dict[str, Any], src: Path) -> BuildSpec:
    """The buildspec the source names: inline YAML, or a file in the primary source."""
    text = (document.get("source") or {}).get("buildspec") or DEFAULT_BUILDSPEC
    if "\n" not in text.strip():
        path = (src / text).resolve()
        if not path.is_relative_to(src.resolve()) or not path.is_file():
            raise BuildFailure(
                "YAML_FILE_ERROR",
                f"YAML file does not exist: no {text} in the primary source",
            )
        text = path.read_text(errors="replace")
    try:
        return parse_buildspec(text)
    except BuildspecError as exc:
        raise BuildFailure("YAML_FILE_ERROR", str(exc)) from None


def timeout_of(document: dict[str, Any], at_most: float | None = None) -> float:
    seconds = float(document.get("timeoutInMinutes") or 60) * 60
    return seconds if at_most is None else min(seconds, at_most)
