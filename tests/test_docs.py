"""The docs stay true to the code: the compatibility table lists every operation with its
real status, and the README's two commands are the ones CI runs."""

from __future__ import annotations

import re
from pathlib import Path

from stageline.aws.codepipeline import HANDLERS
from stageline.aws.spec import service_model

ROOT = Path(__file__).resolve().parents[1]


def _table() -> dict[str, str]:
    text = (ROOT / "docs" / "compatibility.md").read_text()
    rows = re.findall(r"^\| ([A-Z][A-Za-z]+) \| (Implemented|Not yet) \|", text, re.M)
    return dict(rows)


def test_compatibility_lists_all_44_operations() -> None:
    operations = set(service_model("codepipeline").operation_names)
    assert len(operations) == 44
    assert set(_table()) == operations


def test_compatibility_status_matches_the_handlers() -> None:
    table = _table()
    implemented = {op for op, status in table.items() if status == "Implemented"}
    assert implemented == set(HANDLERS)


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "scripts/test" in readme
    assert "stageline serve" in readme
    assert "scripts/test" in (ROOT / ".ci" / "run").read_text()
