"""V2 trigger filters and the V1 default, decided on normalised git events."""

from __future__ import annotations

from typing import Any

import pytest

from stageline.domain.git_events import GitEvent
from stageline.domain.triggers import (
    GlobError,
    criteria_match,
    decide,
    glob_match,
    glob_regex,
    paths_match,
    trigger_for,
    trigger_matches,
)

SHA = "a" * 40


@pytest.mark.parametrize(
    ("pattern", "value", "matches"),
    [
        ("main", "main", True),
        ("main", "main2", False),
        ("release/*", "release/1.0", True),
        ("release/*", "release/1/hotfix", False),
        ("release/**", "release/1/hotfix", True),
        ("**", "a/b/c.txt", True),
        ("*.java", "Main.java", True),
        ("*.java", "src/Main.java", False),
        ("**/*.java", "src/Main.java", True),
        ("**.java", "src/Main.java", True),
        ("*.{java,class}", "A.class", True),
        ("*.{java,class}", "A.kt", False),
        ("foo.?", "foo.c", True),
        ("foo.?", "foo.cc", False),
        ("v[0-9].*", "v1.2", True),
        ("v[!0-9]*", "vx", True),
        ("v[!0-9]*", "v1", False),
        ("a[/]b", "a/b", False),
        ("docs/*", "docs/readme.md", True),
        ("docs/*", "docs/api/readme.md", False),
        ("\\*literal", "*literal", True),
        ("\\*literal", "xliteral", False),
        ("feature-(x)", "feature-(x)", True),
    ],
)
def test_java_glob_semantics(pattern: str, value: str, matches: bool) -> None:
    assert glob_match(pattern, value) is matches


@pytest.mark.parametrize("pattern", ["{a,{b}}", "{open", "[abc", "trailing\\"])
def test_malformed_globs_are_refused(pattern: str) -> None:
    with pytest.raises(GlobError):
        glob_regex(pattern)
    assert not glob_match(pattern, "x")  # an event never fails on one: it just does not match


def test_excludes_take_precedence_and_missing_includes_allow_everything() -> None:
    assert criteria_match(None, "anything")
    assert criteria_match({"includes": ["release/**"], "excludes": ["release/old*"]}, "release/2")
    assert not criteria_match(
        {"includes": ["release/**"], "excludes": ["release/old*"]}, "release/old1"
    )
    assert criteria_match({"excludes": ["wip/*"]}, "main")
    assert not criteria_match({"excludes": ["wip/*"]}, "wip/x")
    assert not criteria_match({"includes": ["main"]}, "dev")


def test_file_paths_need_one_matching_file() -> None:
    criteria = {"includes": ["services/api/**"], "excludes": ["**/*.md"]}
    assert paths_match(criteria, ["README.md", "services/api/app.py"])
    assert not paths_match(criteria, ["services/api/README.md"])
    assert not paths_match(criteria, ["web/index.html"])
    assert not paths_match(criteria, [])
    assert paths_match(criteria, None)  # unknown: pass rather than miss a run


def push(
    branch: str | None = "main",
    tag: str | None = None,
    paths: tuple[str, ...] | None = ("a.txt",),
    deleted: bool = False,
) -> GitEvent:
    return GitEvent(
        "push",
        "GitHub",
        "team/app",
        None if deleted else SHA,
        branch=branch,
        tag=tag,
        changed_paths=paths,
        deleted=deleted,
    )


def pull(
    action: str | None, dest: str = "main", paths: tuple[str, ...] | None = ("a.txt",)
) -> GitEvent:
    return GitEvent(
        "pull_request",
        "GitHub",
        "team/app",
        SHA,
        branch="feature",
        pr_action=action,
        destination_branch=dest,
        changed_paths=paths,
        pr_number=7,
    )


def trigger(**git: Any) -> dict[str, Any]:
    return {
        "providerType": "CodeStarSourceConnection",
        "gitConfiguration": {"sourceActionName": "Src", **git},
    }


def test_push_filter_on_branches_and_paths() -> None:
    t = trigger(
        push=[
            {"branches": {"includes": ["main", "release/*"]}, "filePaths": {"includes": ["src/**"]}}
        ]
    )
    assert trigger_matches(t, push("release/1", paths=("src/x.py",)))
    assert not trigger_matches(t, push("release/1", paths=("docs/x.md",)))
    assert not trigger_matches(t, push("dev", paths=("src/x.py",)))
    assert not trigger_matches(t, push(branch=None, tag="v1"))
    assert not trigger_matches(t, push("main", deleted=True))


def test_push_filter_on_tags_matches_tag_pushes_only() -> None:
    t = trigger(push=[{"tags": {"includes": ["v*"], "excludes": ["v*-rc*"]}}])
    assert trigger_matches(t, push(branch=None, tag="v1.2"))
    assert not trigger_matches(t, push(branch=None, tag="v1.2-rc1"))
    assert not trigger_matches(t, push("v1"))


def test_any_filter_of_the_trigger_may_match() -> None:
    t = trigger(push=[{"branches": {"includes": ["main"]}}, {"tags": {"includes": ["*"]}}])
    assert trigger_matches(t, push("main"))
    assert trigger_matches(t, push(branch=None, tag="x"))
    assert not trigger_matches(t, push("dev"))


def test_pull_request_filter_events_and_destination_branch() -> None:
    t = trigger(pullRequest=[{"events": ["OPEN", "UPDATED"], "branches": {"includes": ["main"]}}])
    assert trigger_matches(t, pull("OPEN"))
    assert trigger_matches(t, pull("UPDATED"))
    assert not trigger_matches(t, pull("CLOSED"))
    assert not trigger_matches(t, pull(None))
    assert not trigger_matches(t, pull("OPEN", dest="dev"))
    assert not trigger_matches(t, push("main"))
    every = trigger(
        pullRequest=[{"branches": {"includes": ["**"]}, "filePaths": {"includes": ["app/**"]}}]
    )
    assert trigger_matches(every, pull("CLOSED", paths=("app/x",)))
    assert not trigger_matches(every, pull("CLOSED", paths=("lib/x",)))


def test_decide_with_a_trigger_is_webhook_v2_on_any_matching_branch() -> None:
    config = {"BranchName": "main", "DetectChanges": "false"}
    t = trigger(push=[{"branches": {"includes": ["feature/*"]}}])
    start = decide(config, t, push("feature/x"))
    assert start is not None and (start.trigger_type, start.commit) == ("WebhookV2", SHA)
    assert start.branch == "feature/x"  # the run reads and reports the pushed branch
    assert decide(config, t, push("main")) is None
    tags = decide(
        config, trigger(push=[{"tags": {"includes": ["v*"]}}]), push(branch=None, tag="v1")
    )
    assert tags is not None and tags.branch is None
    pulls = decide(config, trigger(pullRequest=[{"events": ["OPEN"]}]), pull("OPEN"))
    assert pulls is not None and pulls.branch == "feature"  # the source branch


def test_decide_without_a_trigger_is_the_v1_default_branch_push() -> None:
    config = {"BranchName": "main"}
    start = decide(config, None, push("main"))
    assert start is not None and start.trigger_type == "Webhook"
    assert decide(config, None, push("dev")) is None
    assert decide(config, None, push(branch=None, tag="v1")) is None
    assert decide(config, None, pull("OPEN")) is None
    assert decide({**config, "DetectChanges": "false"}, None, push("main")) is None
    assert decide(config, None, push("main", deleted=True)) is None


def test_trigger_for_finds_the_actions_trigger() -> None:
    t = trigger(push=[{"tags": {"includes": ["*"]}}])
    declaration = {"triggers": [t]}
    assert trigger_for(declaration, "Src") is t
    assert trigger_for(declaration, "Other") is None
    assert trigger_for({}, "Src") is None
