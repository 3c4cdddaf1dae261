"""Git host webhook payloads (GitHub, GitLab) normalised into one event shape (pure).

Recognised: GitHub `push` (branches and tags) and `pull_request`; GitLab `Push Hook`,
`Tag Push Hook` and `Merge Request Hook`. Anything else (ping, issues, ...) is None: it starts
nothing. Pull-request actions map to CodePipeline's OPEN / UPDATED / CLOSED; actions outside
those (labels, edits, reviews) are kept as pr_action None and start nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

ZERO_SHA = "0" * 40
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


def _ref(ref: str) -> tuple[str | None, str | None]:
    """(branch, tag) of a full ref name."""
    if ref.startswith("refs/heads/"):
        return ref[len("refs/heads/") :], None
    if ref.startswith("refs/tags/"):
        return None, ref[len("refs/tags/") :]
    return None, None


def _sha(value: Any) -> str | None:
    return value if isinstance(value, str) and value and value != ZERO_SHA else None


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
    repository: str, branch: str, old: str | None, new: str, paths: list[str]
) -> GitEvent:
    """A polled change of a branch, as the push that made it."""
    return GitEvent(
        "push", "poll", repository, new, branch=branch, before=old, changed_paths=tuple(paths)
    )
