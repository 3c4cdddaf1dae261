"""The docs stay true to the code: the compatibility table lists every operation with its
real status, and the README's two commands are the ones CI runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from stageline.aws import codebuild, codepipeline, codestar_notifications, connections
from stageline.aws.spec import service_model

ROOT = Path(__file__).resolve().parents[1]
# The section of docs/compatibility.md that holds each service's operations table.
SECTIONS = {
    "codepipeline": "# Compatibility with AWS CodePipeline",
    "codebuild": "## CodeBuild API",
    "codestar-notifications": "## CodeStar Notifications API",
    "codeconnections": "## CodeConnections API",
    "codestar-connections": "## CodeStar Connections API",
}
HANDLERS = {
    "codepipeline": codepipeline.HANDLERS,
    "codebuild": codebuild.HANDLERS,
    "codestar-notifications": codestar_notifications.HANDLERS,
    "codeconnections": connections.HANDLERS,
    "codestar-connections": connections.HANDLERS,
}


def _table(service: str) -> dict[str, str]:
    text = (ROOT / "docs" / "compatibility.md").read_text()
    start = text.index(SECTIONS[service] + "\n")
    end = text.find("\n## ", start + len(SECTIONS[service]))
    section = text[start : end if end != -1 else len(text)]
    rows = re.findall(r"^\| ([A-Z][A-Za-z]+) \| (Implemented|Not yet) \|", section, re.M)
    return dict(rows)


def test_compatibility_lists_all_44_codepipeline_operations() -> None:
    operations = set(service_model("codepipeline").operation_names)
    assert len(operations) == 44
    assert set(_table("codepipeline")) == operations


def test_compatibility_lists_every_codebuild_operation() -> None:
    assert set(_table("codebuild")) == set(service_model("codebuild").operation_names)


@pytest.mark.parametrize("service", sorted(SECTIONS))
def test_compatibility_status_matches_the_handlers(service: str) -> None:
    table = _table(service)
    implemented = {op for op, status in table.items() if status == "Implemented"}
    assert implemented == set(HANDLERS[service])


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "scripts/test" in readme
    assert "stageline serve" in readme
    assert "scripts/test" in (ROOT / ".ci" / "run").read_text()
