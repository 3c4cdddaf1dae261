"""GitHub and GitLab webhook payloads normalised into GitEvent."""

from __future__ import annotations

import json

from tests.support.github_payloads import (
    ZERO,
    github_pull_request,
    github_push,
    gitlab_merge_request,
    gitlab_push,
)

from stageline.domain.git_events import parse_github, parse_gitlab, push_event

OLD, NEW = "1" * 40, "2" * 40


def roundtrip(payload: dict) -> dict:  # type: ignore[type-arg]
    """As the receiver sees it: parsed from the JSON the host sent."""
    return json.loads(json.dumps(payload))  # type: ignore[no-any-return]


def test_github_branch_push() -> None:
    files = {"added": ["src/new.py"], "modified": ["README.md"], "removed": ["old.txt"]}
    event = parse_github(
        "push", roundtrip(github_push("team/app", "refs/heads/main", OLD, NEW, files))
    )
    assert event is not None
    assert (event.kind, event.repository, event.branch, event.tag) == (
        "push",
        "team/app",
        "main",
        None,
    )
    assert (event.commit, event.before, event.deleted) == (NEW, OLD, False)
    assert event.changed_paths == ("src/new.py", "README.md", "old.txt")


def test_github_paths_unknown_past_the_payload_commit_limit() -> None:
    payload = github_push("team/app", "refs/heads/main", OLD, NEW, {"added": ["a"]}, commits=20)
    event = parse_github("push", roundtrip(payload))
    assert event is not None and event.changed_paths is None


def test_github_tag_push_and_deleted_branch() -> None:
    tag = parse_github("push", roundtrip(github_push("team/app", "refs/tags/v1.0", ZERO, NEW)))
    assert tag is not None and (tag.tag, tag.branch, tag.commit) == ("v1.0", None, NEW)
    gone = parse_github("push", roundtrip(github_push("team/app", "refs/heads/old", OLD, ZERO)))
    assert gone is not None and gone.deleted and gone.commit is None


def test_github_pull_request_actions() -> None:
    def parse(action: str):  # type: ignore[no-untyped-def]
        payload = github_pull_request(
            "team/app",
            action,
            number=5,
            head_ref="feature",
            head_sha=NEW,
            base_ref="main",
            base_sha=OLD,
        )
        return parse_github("pull_request", roundtrip(payload))

    opened = parse("opened")
    assert opened is not None
    assert (opened.kind, opened.pr_action, opened.commit) == ("pull_request", "OPEN", NEW)
    assert (opened.branch, opened.destination_branch, opened.before, opened.pr_number) == (
        "feature",
        "main",
        OLD,
        5,
    )
    assert parse("reopened").pr_action == "OPEN"
    assert parse("synchronize").pr_action == "UPDATED"
    assert parse("closed").pr_action == "CLOSED"
    assert parse("labeled").pr_action is None


def test_github_other_events_are_ignored() -> None:
    assert (
        parse_github("ping", {"zen": "Keep it simple.", "repository": {"full_name": "a/b"}}) is None
    )
    assert (
        parse_github("issues", roundtrip(github_push("a/b", "refs/heads/main", OLD, NEW))) is None
    )
    assert parse_github("push", {"ref": "refs/heads/main"}) is None  # no repository


def test_gitlab_push_and_tag_push() -> None:
    files = {"modified": ["app/main.go"]}
    event = parse_gitlab(
        "Push Hook", roundtrip(gitlab_push("group/app", "refs/heads/dev", OLD, NEW, files))
    )
    assert event is not None
    assert (event.provider, event.repository, event.branch, event.commit) == (
        "GitLab",
        "group/app",
        "dev",
        NEW,
    )
    assert event.changed_paths == ("app/main.go",)
    tag = parse_gitlab(
        "Tag Push Hook", roundtrip(gitlab_push("group/app", "refs/tags/v2", ZERO, NEW))
    )
    assert tag is not None and (tag.tag, tag.commit) == ("v2", NEW)
    gone = parse_gitlab("Push Hook", roundtrip(gitlab_push("group/app", "refs/heads/x", OLD, ZERO)))
    assert gone is not None and gone.deleted and gone.commit is None


def test_gitlab_merge_request_actions() -> None:
    def parse(action: str, oldrev: str | None = None):  # type: ignore[no-untyped-def]
        payload = gitlab_merge_request(
            "group/app",
            action,
            iid=3,
            source_branch="feat",
            target_branch="main",
            last_commit=NEW,
            oldrev=oldrev,
        )
        return parse_gitlab("Merge Request Hook", roundtrip(payload))

    opened = parse("open")
    assert opened is not None
    assert (
        opened.pr_action,
        opened.commit,
        opened.branch,
        opened.destination_branch,
        opened.pr_number,
    ) == ("OPEN", NEW, "feat", "main", 3)
    assert parse("update", oldrev=OLD).pr_action == "UPDATED"
    assert parse("update").pr_action is None  # a title or label change, no new commits
    assert parse("merge").pr_action == "CLOSED"
    assert parse("close").pr_action == "CLOSED"
    assert parse("approved").pr_action is None


def test_polled_change_is_a_push() -> None:
    event = push_event("team/app", "main", OLD, NEW, ["a.txt"])
    assert (event.kind, event.branch, event.commit, event.changed_paths) == (
        "push",
        "main",
        NEW,
        ("a.txt",),
    )
