"""Every git_access entry point refuses commit ids and branch names that are not ones (an
option such as `--upload-pack=...` or `--output=...` first of all) before git runs, and the
webhook payload parser refuses commit ids that are not full hex ids."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from tests.support.git_server import GitRepo

from stageline.domain.errors import ValidationException
from stageline.domain.git_events import branch_problem, is_commit_id, parse_github, parse_gitlab
from stageline.services import git_access
from stageline.services.git_access import GitRemote, UnsafeGitArgument

BAD_COMMITS = [
    "--upload-pack=touch PWNED;git-upload-pack",
    "--output=PWNED",
    "-p",
    "abc1234",
    "HEAD",
    "main",
    "a" * 39,
    "a" * 41,
    "g" * 40,
    "",
]
BAD_BRANCHES = ["--upload-pack=x", "-b", "a..b", "a b", "x:y", "x.lock", ".hidden", "a//b", ""]


def remote(repo: GitRepo, tmp_path: Path) -> GitRemote:
    return GitRemote(
        connection_arn="arn:aws:codeconnections:us-east-1:000000000000:connection/x",
        full_repository_id=repo.name,
        provider_type="GitLabSelfManaged",
        url=repo.file_url + "/" + repo.name,
        web_url=None,
        api_url=None,
        cache_root=tmp_path / "cache",
        endpoint=repo.file_url,
    )


def entry_points(
    r: GitRemote, good: str, mirror: Path, dest: Path
) -> dict[str, Callable[..., object]]:
    """Each entry point, given a commit id `c` and a branch name `b` to try."""
    return {
        "head_commit": lambda c, b: git_access.head_commit(r, b),
        "fetch": lambda c, b: git_access.fetch(r, b, c),
        "has_commit": lambda c, b: git_access.has_commit(mirror, c),
        "changed_paths(old)": lambda c, b: git_access.changed_paths(r, c, good),
        "changed_paths(new)": lambda c, b: git_access.changed_paths(r, None, c),
        "commit_info": lambda c, b: git_access.commit_info(r, c),
        "archive": lambda c, b: git_access.archive(r, mirror, c, dest / "out.tar"),
        "clone": lambda c, b: git_access.clone(r, mirror, b, c, dest / "clone"),
    }


def test_every_entry_point_refuses_options_and_non_ids(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = GitRepo(tmp_path)
    good = repo.commit({"a.txt": "1"}, "first")
    r = remote(repo, tmp_path)
    mirror = git_access.fetch(r, "main", good)
    dest = tmp_path / "dest"
    dest.mkdir()
    monkeypatch.chdir(dest)  # where a relative --output=PWNED would land
    for name, call in entry_points(r, good, mirror, dest).items():
        for bad in BAD_COMMITS:
            if name == "head_commit":
                continue
            with pytest.raises(UnsafeGitArgument):
                call(bad, "main")
        for bad in BAD_BRANCHES:
            if name in (
                "has_commit",
                "changed_paths(old)",
                "changed_paths(new)",
                "commit_info",
                "archive",
            ):
                continue
            with pytest.raises(UnsafeGitArgument):
                call(good, bad)
    assert list(dest.iterdir()) == []
    # The same entry points still work with real values (SHA-1 here; SHA-256 ids are 64 digits).
    assert git_access.head_commit(r, "main") == good
    assert git_access.has_commit(mirror, good)
    assert git_access.changed_paths(r, None, good) == ["a.txt"]
    assert git_access.commit_info(r, good.upper()).commit_id == good
    git_access.clone(r, mirror, "main", good, dest / "clone")
    assert (dest / "clone" / "a.txt").read_text() == "1"


def test_ids_and_branch_names() -> None:
    assert is_commit_id("a" * 40) and is_commit_id("0123456789ABCDEF" * 4)
    assert not any(is_commit_id(v) for v in BAD_COMMITS)
    assert not is_commit_id(None)
    for ok in ("main", "release/1.2", "feature/x-y_z", "v1@2"):
        assert branch_problem(ok) is None, ok
    for bad in [
        *BAD_BRANCHES,
        "x/",
        "x.",
        "@",
        "a@{1}",
        "a\x01b",
        "a~1",
        "a^",
        "a?",
        "a*",
        "a[",
        "a\\b",
    ]:
        assert branch_problem(bad), bad


def test_payload_commit_ids_must_be_hex() -> None:
    repo = {"full_name": "team/app"}
    good = "b" * 40
    for field in ("before", "after"):
        payload = {"ref": "refs/heads/main", "before": "a" * 40, "after": good, "repository": repo}
        payload[field] = "--output=/tmp/PWNED"
        with pytest.raises(ValidationException, match="not a 40- or 64-digit hex id"):
            parse_github("push", payload)
    payload = {
        "ref": "refs/heads/main",
        "before": "0" * 40,
        "after": good.upper(),
        "repository": repo,
    }
    event = parse_github("push", payload)
    assert event is not None and event.commit == good and event.before is None
    gitlab = {
        "ref": "refs/heads/main",
        "before": "a" * 40,
        "after": good,
        "checkout_sha": "-x",
        "project": {"path_with_namespace": "team/app"},
    }
    with pytest.raises(ValidationException):
        parse_gitlab("Push Hook", gitlab)
    pr = {
        "action": "opened",
        "pull_request": {
            "number": 1,
            "head": {"ref": "f", "sha": "--x"},
            "base": {"ref": "main", "sha": good},
        },
        "repository": repo,
    }
    with pytest.raises(ValidationException):
        parse_github("pull_request", pr)
