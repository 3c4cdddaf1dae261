"""Source / AWS / CodeStarSourceConnection / 1: a git branch through a connection becomes the
output artifact.

Follows "CodeStarSourceConnection for Bitbucket Cloud, GitHub, GitHub Enterprise Server,
GitLab.com, and GitLab self-managed actions": the branch's head (or the commit a
StartPipelineExecution sourceRevisions COMMIT_ID or a webhook pinned) is the revision, and a
trigger's event from another branch reads (and reports as BranchName) that branch;
OutputArtifactFormat CODE_ZIP gives the tree without .git, CODEBUILD_CLONE_REF a full clone
with .git and submodules (on AWS a reference CodeBuild clones itself; here the clone travels in
the artifact zip, so any build action has the history). Output variables as AWS names them:
AuthorDate, BranchName, CommitId, CommitMessage, ConnectionArn, FullRepositoryId.
DetectChanges concerns triggers, not this run.
"""

from __future__ import annotations

import json
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from stageline.actions.base import ActionContext, Outcome, SourceRevision, Succeeded
from stageline.actions.workspace import ActionError, required, scratch, upload_output
from stageline.domain.errors import ServiceError
from stageline.persistence.db import Database
from stageline.services import git_access
from stageline.services.git_access import CommitInfo, GitError, GitRemote
from stageline.services.secret_box import SecretBox

FORMATS = ("CODE_ZIP", "CODEBUILD_CLONE_REF")
MAX_MESSAGE = 4000  # output variables share a size budget; a huge message must not fail a run
MAX_SUMMARY = 2048  # revisionSummary's limit in CodePipeline's model
T = TypeVar("T")


class GitSourceProvider:
    def __init__(self, db: Database, box: SecretBox, cache_root: Path) -> None:
        self.db, self.box, self.cache_root = db, box, cache_root

    def run(self, ctx: ActionContext) -> Outcome:
        try:
            return self._run(ctx)
        except ActionError as exc:
            return exc.outcome()

    def _run(self, ctx: ActionContext) -> Succeeded:
        config = ctx.configuration
        declared = required(config, "BranchName")
        pin = ctx.continuation or {}
        pinned = str(pin.get("revisionId") or "") or None
        # A trigger's push to (or pull request from) another branch: AWS builds that branch's
        # commit and reports that branch.
        branch = str(pin.get("branchName") or "") or declared
        output_format = config.get("OutputArtifactFormat", "").strip() or "CODE_ZIP"
        if output_format not in FORMATS:
            raise ActionError(
                f"OutputArtifactFormat {output_format} is not one of {', '.join(FORMATS)}",
                "ConfigurationError",
            )
        if len(ctx.outputs) != 1:
            raise ActionError("The CodeStarSourceConnection action needs exactly one output")
        remote = self._remote(
            required(config, "ConnectionArn"), required(config, "FullRepositoryId")
        )
        where = f"repository {remote.full_repository_id} at {_shown(remote)}"
        head = _git(lambda: git_access.head_commit(remote, branch), where)
        # An event's branch may be gone since (a merged pull request): its pinned commit is
        # then fetched by id alongside the declared branch.
        if head is None and (pinned is None or branch == declared):
            raise ActionError(f"Branch {branch} was not found in {where}")
        commit = pinned or str(head)
        ref = branch if head is not None else declared
        mirror = _git(lambda: git_access.fetch(remote, ref, commit, cancelled=ctx.cancelled), where)
        if not _git(lambda: git_access.has_commit(mirror, commit), where):
            raise ActionError(f"Commit {commit} was not found in {where}", "RevisionUnavailable")
        info = _git(lambda: git_access.commit_info(remote, commit), where)
        ctx.log.write(
            f"[Stageline] {where}, branch {branch}: commit {info.commit_id} ({output_format})\n"
        )
        tree = scratch(ctx) / "git-source"
        if output_format == "CODE_ZIP":
            _extract_tree(remote, mirror, info.commit_id, tree, where)
        else:
            _git(
                lambda: git_access.clone(
                    remote, mirror, branch, info.commit_id, tree, cancelled=ctx.cancelled
                ),
                where,
            )
        upload_output(ctx, ctx.outputs[0], tree)
        return _succeeded(remote, branch, info)

    def _remote(self, connection_arn: str, repository: str) -> GitRemote:
        try:
            with self.db.unit_of_work(write=False) as uow:
                return git_access.remote_for(
                    uow.session, self.box, connection_arn, repository, cache_root=self.cache_root
                )
        except ServiceError as exc:
            raise ActionError(exc.message, "ConfigurationError") from None


def _shown(remote: GitRemote) -> str:
    """The endpoint without any user info a URL might carry."""
    parts = urlsplit(remote.endpoint or remote.url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme}://{host}{parts.path}"


def _git(step: Callable[[], T], where: str) -> T:
    """Run a git step; its failure (scrubbed of credentials) becomes the action's."""
    try:
        return step()
    except GitError as exc:
        text = str(exc)
        lowered = text.lower()
        if "authentication" in lowered or "could not read username" in lowered or "403" in text:
            raise ActionError(
                f"Access to {where} was refused: check the connection's credentials "
                f"(git said: {text.splitlines()[-1] if text else 'no details'})"
            ) from None
        raise ActionError(f"Cannot read {where}: {text}") from None


def _extract_tree(remote: GitRemote, mirror: Path, commit: str, dest: Path, where: str) -> None:
    archive = dest.with_suffix(".tar")
    _git(lambda: git_access.archive(remote, mirror, commit, archive), where)
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(dest, filter=_inside)
    except tarfile.TarError as exc:
        raise ActionError(f"Cannot unpack the tree of {commit} from {where}: {exc}") from None
    finally:
        archive.unlink(missing_ok=True)
    dest.mkdir(parents=True, exist_ok=True)


def _inside(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo | None:
    """tarfile's "data" filter, except that a symlink pointing outside the tree is left out
    (the zip packer would skip it anyway) rather than failing the whole source."""
    try:
        return tarfile.data_filter(member, dest)
    except tarfile.FilterError:
        if member.issym() or member.islnk():
            return None
        raise


def _succeeded(remote: GitRemote, branch: str, info: CommitInfo) -> Succeeded:
    message = info.message[:MAX_MESSAGE]
    variables = {
        "AuthorDate": info.author_date.isoformat(),
        "BranchName": branch,
        "CommitId": info.commit_id,
        "CommitMessage": message,
        "ConnectionArn": remote.connection_arn,
        "FullRepositoryId": remote.full_repository_id,
    }
    # AWS shows a connection source's revision summary as this JSON document.
    summary = json.dumps({"ProviderType": remote.provider_type, "CommitMessage": message})
    if len(summary) > MAX_SUMMARY:
        cut = message[: MAX_SUMMARY - 100] + "..."
        summary = json.dumps({"ProviderType": remote.provider_type, "CommitMessage": cut})
    return Succeeded(
        summary=message.splitlines()[0][:200] if message else info.commit_id,
        output_variables=variables,
        revision=SourceRevision(
            revision_id=info.commit_id,
            created=info.author_date,
            summary=summary,
            url=info.url,
        ),
    )
