"""Git host webhook payloads (GitHub, GitLab) normalised into one event shape (pure).

Recognised: GitHub `push` (branches and tags) and `pull_request`; GitLab `Push Hook`,
`Tag Push Hook` and `Merge Request Hook`. Anything else (ping, issues, ...) is None: it starts
nothing. Pull-request actions map to CodePipeline's OPEN / UPDATED / CLOSED; actions outside
those (labels, edits, reviews) are kept as pr_action None and start nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from stageline.domain.errors import ValidationException

ZERO_SHA = "0" * 40
# A full object id: SHA-1 (40 hex digits) or SHA-256 (64). Nothing shorter reaches git, so no
# value a caller controls can be read by git as an option or a revision expression.
_COMMIT_ID = re.compile(r"[0-9a-fA-F]{40}(?:[0-9a-fA-F]{24})?")
_REF_FORBIDDEN = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]|\.\.|@\{|//")
# GitHub lists at most 20 commits in a push payload (GitLab likewise): past that, the changed
# files are not all in the payload and must come from the repository.
PAYLOAD_COMMIT_LIMIT = 20

_GITHUB_PR_ACTIONS = {"opened": "OPEN", "reopened": "OPEN", "synchronize": "UPDATED"}
_GITLAB_MR_ACTIONS = {"open": "OPEN", "reopen": "OPEN", "close": "CLOSED", "merge": "CLOSED"}


@dataclass(frozen=True)
class GitEvent:
    kind: Literal["push", "pull_request"]
    provider: str  # GitHub | GitLab
    repository: str  # full repository id, e.g. "team/app"
    commit: str | None  # the commit a run uses: the pushed head, or the pull request's head
    branch: str | None = None  # push: the branch pushed; pull request: its source branch
    tag: str | None = None
    before: str | None = None  # the ref's previous commit (push) or the base commit (PR)
    changed_paths: tuple[str, ...] | None = None  # None: not in the payload
    deleted: bool = False
    pr_action: str | None = None  # OPEN | UPDATED | CLOSED
    destination_branch: str | None = None
    pr_number: int | None = None

    def describe(self) -> str:
        if self.kind == "pull_request":
            return (
                f"pull request {self.pr_number} {self.pr_action or 'event'} "
                f"({self.branch} -> {self.destination_branch})"
            )
        ref = f"tag {self.tag}" if self.tag is not None else f"branch {self.branch}"
        return f"push to {ref} of {self.repository}"


def is_commit_id(value: object) -> bool:
    """A full 40- or 64-hex-digit commit id."""
    return isinstance(value, str) and _COMMIT_ID.fullmatch(value) is not None


def branch_problem(name: str) -> str | None:
    """Why `name` is not a branch name `git check-ref-format --branch` accepts; None if it is."""
    bad = (
        not name
        or name.startswith(("-", "/"))
        or name.endswith(("/", "."))
        or name == "@"
        or _REF_FORBIDDEN.search(name) is not None
        or any(part.startswith(".") or part.endswith(".lock") for part in name.split("/"))
    )
    return f"{name[:100]!r} is not a valid branch name." if bad else None


def commit_id_problem(action: str, value: object) -> str | None:
    """Why `value` cannot be the commit a git (connection) source `action` runs; None if it can."""
    if is_commit_id(value):
        return None
    return (
        f"Revision {str(value)[:100]!r} for source action {action} is not a full commit id: a "
        "CodeStarSourceConnection source takes a 40- (or 64-) character hexadecimal commit id."
    )


def _ref(ref: str) -> tuple[str | None, str | None]:
    """(branch, tag) of a full ref name."""
    if ref.startswith("refs/heads/"):
        return ref[len("refs/heads/") :], None
    if ref.startswith("refs/tags/"):
        return None, ref[len("refs/tags/") :]
    return None, None


def _sha(value: Any) -> str | None:
    """A commit id of the payload; None where there is none (absent, null, all zeros). Any
    other value is refused: it would otherwise reach git as an argument."""
    if value is None or value == "" or value == ZERO_SHA:
        return None
    if not is_commit_id(value):
        raise ValidationException(
            f"The payload's commit id {str(value)[:100]!r} is not a 40- or 64-digit hex id."
        )
    return str(value).lower()


def _paths(commits: Any, total: int | None) -> tuple[str, ...] | None:
    if not isinstance(commits, list) or not commits:
        return None
    if len(commits) >= PAYLOAD_COMMIT_LIMIT or (total is not None and total > len(commits)):
        return None
    seen: dict[str, None] = {}  # ordered, without repeats
    for commit in commits:
        if not isinstance(commit, dict):
            continue
        for key in ("added", "modified", "removed"):
            for path in commit.get(key) or ():
                if isinstance(path, str):
                    seen.setdefault(path, None)
    return tuple(seen)


def _get(data: Mapping[str, Any], *path: str) -> Any:
    node: Any = data
    for key in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


def parse_github(event: str, payload: Mapping[str, Any]) -> GitEvent | None:
    repository = _get(payload, "repository", "full_name")
    if not isinstance(repository, str):
        return None
    if event == "push":
        branch, tag = _ref(str(payload.get("ref") or ""))
        if branch is None and tag is None:
            return None
        deleted = bool(payload.get("deleted")) or _sha(payload.get("after")) is None
        # An annotated tag's `after` is the tag object; head_commit is the commit it tags.
        commit = _sha(_get(payload, "head_commit", "id")) or _sha(payload.get("after"))
        return GitEvent(
            "push",
            "GitHub",
            repository,
            None if deleted else commit,
            branch=branch,
            tag=tag,
            before=_sha(payload.get("before")),
            changed_paths=_paths(payload.get("commits"), None),
            deleted=deleted,
        )
    if event == "pull_request":
        pr = payload.get("pull_request")
        if not isinstance(pr, Mapping):
            return None
        action = str(payload.get("action") or "")
        mapped = "CLOSED" if action == "closed" else _GITHUB_PR_ACTIONS.get(action)
        return GitEvent(
            "pull_request",
            "GitHub",
            repository,
            _sha(_get(pr, "head", "sha")),
            branch=_get(pr, "head", "ref"),
            before=_sha(_get(pr, "base", "sha")),
            pr_action=mapped,
            destination_branch=_get(pr, "base", "ref"),
            pr_number=pr.get("number") if isinstance(pr.get("number"), int) else None,
        )
    return None


def parse_gitlab(event: str, payload: Mapping[str, Any]) -> GitEvent | None:
    repository = _get(payload, "project", "path_with_namespace")
    if not isinstance(repository, str):
        return None
    if event in ("Push Hook", "Tag Push Hook"):
        branch, tag = _ref(str(payload.get("ref") or ""))
        if branch is None and tag is None:
            return None
        deleted = _sha(payload.get("after")) is None
        commit = _sha(payload.get("checkout_sha")) or _sha(payload.get("after"))
        total = payload.get("total_commits_count")
        return GitEvent(
            "push",
            "GitLab",
            repository,
            None if deleted else commit,
            branch=branch,
            tag=tag,
            before=_sha(payload.get("before")),
            changed_paths=_paths(payload.get("commits"), total if isinstance(total, int) else None),
            deleted=deleted,
        )
    if event == "Merge Request Hook":
        attrs = payload.get("object_attributes")
        if not isinstance(attrs, Mapping):
            return None
        action = str(attrs.get("action") or "")
        mapped = _GITLAB_MR_ACTIONS.get(action)
        if action == "update" and attrs.get("oldrev"):
            mapped = "UPDATED"  # new commits; other updates (title, labels) start nothing
        iid = attrs.get("iid")
        return GitEvent(
            "pull_request",
            "GitLab",
            repository,
            _sha(_get(attrs, "last_commit", "id")),
            branch=attrs.get("source_branch"),
            before=_sha(attrs.get("oldrev")),
            pr_action=mapped,
            destination_branch=attrs.get("target_branch"),
            pr_number=iid if isinstance(iid, int) else None,
        )
    return None


def push_event(
    repository: str, branch: str, old: str | None, new: str, paths: list[str] | None
) -> GitEvent:
    """A polled change of a branch, as the push that made it (paths None: unknown)."""
    changed = None if paths is None else tuple(paths)
    return GitEvent(
        "push", "poll", repository, new, branch=branch, before=old, changed_paths=changed
    )
