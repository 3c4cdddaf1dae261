"""V2 pipeline triggers and the V1 default, decided on normalised git events (pure).

Follows "Add trigger with code push or pull request event types" and "Working with glob
patterns in syntax" (CodePipeline user guide):

- A source action with a trigger starts only on what the trigger's filters allow; its
  BranchName is then just the branch of manual starts. Any one push filter (or pull-request
  filter) of the trigger may match.
- A push filter on tags matches tag pushes only; one on branches (optionally with file paths)
  matches branch pushes only. Excludes take precedence over includes; without includes,
  everything not excluded is included.
- A pull-request filter matches the events it lists (all three when it lists none) on pull
  requests into a matching destination branch; the run uses the pull request's head commit.
- Without a trigger, a CodeStarSourceConnection action with DetectChanges (default true)
  starts on a push to its BranchName: the V1 behaviour.
- Globs are Java NIO's: `*` and `?` stay within a path component, `**` crosses `/`,
  `[...]` (with `!` negation) and `{a,b}` groups, `\\` escapes.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from stageline.domain.git_events import GitEvent

PULL_REQUEST_EVENTS = ("OPEN", "UPDATED", "CLOSED")


class GlobError(ValueError):
    """A pattern Java's glob syntax does not accept (unclosed group or bracket)."""


@functools.lru_cache(maxsize=1024)
def glob_regex(pattern: str) -> re.Pattern[str]:
    out: list[str] = []
    i, in_group = 0, False
    while i < len(pattern):
        c = pattern[i]
        i += 1
        if c == "\\":
            if i >= len(pattern):
                raise GlobError(f"Glob pattern {pattern!r} ends with an escape character")
            out.append(re.escape(pattern[i]))
            i += 1
        elif c == "*":
            if i < len(pattern) and pattern[i] == "*":
                out.append(".*")
                i += 1
            else:
                out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            i = _bracket(pattern, i, out)
        elif c == "{":
            if in_group:
                raise GlobError(f"Glob pattern {pattern!r} nests {{ }} groups")
            out.append("(?:")
            in_group = True
        elif c == "}" and in_group:
            out.append(")")
            in_group = False
        elif c == "," and in_group:
            out.append("|")
        else:
            out.append(re.escape(c))
    if in_group:
        raise GlobError(f"Glob pattern {pattern!r} has an unclosed {{ group")
    return re.compile("".join(out), re.DOTALL)


def _bracket(pattern: str, i: int, out: list[str]) -> int:
    """One `[...]` expression starting after its `[`; the index after its `]`."""
    end = pattern.find("]", i + 1 if pattern[i : i + 1] in ("!", "]") else i)
    if end < 0:
        raise GlobError(f"Glob pattern {pattern!r} has an unclosed [ bracket")
    body = pattern[i:end]
    negate = body.startswith("!")
    if negate:
        body = body[1:]
    # Inside brackets *, ? and \ are themselves; a bracket never matches the separator.
    chars = "".join("\\" + ch if ch in "\\^[]" else ch for ch in body)
    out.append(f"(?!/)[{'^' if negate else ''}{chars}]")
    return end + 1


def glob_match(pattern: str, value: str) -> bool:
    """Whether `value` matches; a malformed pattern (refused by CreatePipeline and
    UpdatePipeline, but perhaps stored before they checked) matches nothing rather than
    failing the event."""
    try:
        return glob_regex(pattern).fullmatch(value) is not None
    except GlobError:
        return False


def criteria_match(criteria: Mapping[str, Any] | None, value: str) -> bool:
    """Includes / excludes of one name (branch or tag); no criteria allows everything."""
    if not criteria:
        return True
    if any(glob_match(p, value) for p in criteria.get("excludes") or ()):
        return False
    includes = criteria.get("includes") or ()
    return not includes or any(glob_match(p, value) for p in includes)


def paths_match(criteria: Mapping[str, Any] | None, paths: Sequence[str] | None) -> bool:
    """At least one changed file passes the criteria. Unknown paths (None) pass: Stageline
    could not learn them, and a missed run is worse than an extra one."""
    if not criteria or paths is None:
        return True
    return any(criteria_match(criteria, path) for path in paths)


def push_filter_matches(push: Mapping[str, Any], event: GitEvent) -> bool:
    if event.kind != "push" or event.deleted:
        return False
    if push.get("tags"):
        return event.tag is not None and criteria_match(push["tags"], event.tag)
    if event.branch is None:
        return False  # a tag push, and this filter is about branches
    return criteria_match(push.get("branches"), event.branch) and paths_match(
        push.get("filePaths"), event.changed_paths
    )


def pull_request_filter_matches(pull: Mapping[str, Any], event: GitEvent) -> bool:
    if event.kind != "pull_request" or event.pr_action is None:
        return False
    if event.pr_action not in (pull.get("events") or PULL_REQUEST_EVENTS):
        return False
    if event.destination_branch is None:
        return False
    return criteria_match(pull.get("branches"), event.destination_branch) and paths_match(
        pull.get("filePaths"), event.changed_paths
    )


def trigger_matches(trigger: Mapping[str, Any], event: GitEvent) -> bool:
    git = trigger.get("gitConfiguration") or {}
    pushes: Iterable[Mapping[str, Any]] = git.get("push") or ()
    pulls: Iterable[Mapping[str, Any]] = git.get("pullRequest") or ()
    return any(push_filter_matches(p, event) for p in pushes) or any(
        pull_request_filter_matches(p, event) for p in pulls
    )


def trigger_for(declaration: Mapping[str, Any], action_name: str) -> Mapping[str, Any] | None:
    """The trigger a pipeline declares for one source action, if any."""
    triggers: Iterable[Mapping[str, Any]] = declaration.get("triggers") or ()
    for trigger in triggers:
        if (trigger.get("gitConfiguration") or {}).get("sourceActionName") == action_name:
            return trigger
    return None


def detects_changes(configuration: Mapping[str, str], prop: str) -> bool:
    """DetectChanges / PollForSourceChanges: true unless set to "false" (AWS's default)."""
    return str(configuration.get(prop, "true")).strip().lower() != "false"


@dataclass(frozen=True)
class Start:
    """A run to start: the trigger type AWS records, the commit to pin and the branch it
    came from (a push's branch, a pull request's source branch; None for a tag)."""

    trigger_type: str
    commit: str
    branch: str | None = None


def decide(
    configuration: Mapping[str, str], trigger: Mapping[str, Any] | None, event: GitEvent
) -> Start | None:
    """Whether `event` starts a run of a CodeStarSourceConnection action, and how."""
    if event.commit is None:
        return None
    if trigger is not None:
        if not trigger_matches(trigger, event):
            return None
        return Start("WebhookV2", event.commit, event.branch)
    if not detects_changes(configuration, "DetectChanges"):
        return None
    default_push = event.kind == "push" and not event.deleted and event.tag is None
    if default_push and event.branch == configuration.get("BranchName"):
        return Start("Webhook", event.commit, event.branch)
    return None
