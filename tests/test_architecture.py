"""Layering rules, checked on the source with `ast`.

- stageline.domain is pure: the standard library and stageline.domain only.
- stageline.services knows no adapter (AWS endpoint, REST, console, dispatch) and no web or
  task framework.
- No module is over 400 lines.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "stageline"
MAX_LINES = 400

SERVICES_MUST_NOT_IMPORT = (
    "stageline.aws",
    "stageline.rest",
    "stageline.console",
    "stageline.dispatch",
    "fastapi",
    "starlette",
    "celery",
)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(source: str, module: str, is_package: bool = False) -> list[tuple[int, str]]:
    """Every module `source` imports (anywhere, including inside functions), as absolute names."""
    package = module if is_package else module.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            found.append((node.lineno, target))
            # `from stageline import aws` imports stageline.aws.
            found += [(node.lineno, f"{target}.{alias.name}") for alias in node.names]
    return sorted(found, key=lambda item: item[0])  # ast.walk is breadth-first


def file_imports(path: Path) -> list[tuple[int, str]]:
    return imports(path.read_text(), module_name(path), path.name == "__init__.py")


def is_within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def stdlib(name: str) -> bool:
    return name.split(".")[0] in sys.stdlib_module_names


def domain_violations(found: list[tuple[int, str]]) -> list[str]:
    bad = []
    for lineno, name in found:
        if stdlib(name) or is_within(name, "stageline.domain"):
            continue
        # `from stageline.domain import errors` also yields stageline.domain.errors: fine.
        bad.append(f"line {lineno}: {name}")
    return bad


def services_violations(found: list[tuple[int, str]]) -> list[str]:
    return [
        f"line {lineno}: {name}"
        for lineno, name in found
        if any(is_within(name, forbidden) for forbidden in SERVICES_MUST_NOT_IMPORT)
    ]


def py_files(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.py"))


def test_the_checks_catch_violations() -> None:
    """The checkers flag what they should, so a clean result below means something."""
    domain_src = (
        "import json\n"
        "from . import errors\n"
        "from .errors import ServiceError\n"
        "def f():\n"
        "    import sqlalchemy\n"
        "from ..persistence import models\n"
        "from stageline import settings\n"
    )
    assert domain_violations(imports(domain_src, "stageline.domain.x")) == [
        "line 5: sqlalchemy",
        "line 6: stageline.persistence",
        "line 6: stageline.persistence.models",
        "line 7: stageline",
        "line 7: stageline.settings",
    ]
    services_src = (
        "from stageline.domain import errors\n"
        "from stageline import rest\n"
        "from ..aws.router import AwsCall\n"
        "import fastapi.responses\n"
        "from celery import Celery\n"
        "import stageline.dispatchers\n"
    )
    assert services_violations(imports(services_src, "stageline.services.x")) == [
        "line 2: stageline.rest",
        "line 3: stageline.aws.router",
        "line 3: stageline.aws.router.AwsCall",
        "line 4: fastapi.responses",
        "line 5: celery",
        "line 5: celery.Celery",
    ]


def test_there_is_something_to_check() -> None:
    assert py_files(PACKAGE / "domain")
    assert py_files(PACKAGE / "services")


@pytest.mark.parametrize("path", py_files(PACKAGE / "domain"), ids=lambda p: p.name)
def test_domain_imports_only_stdlib_and_domain(path: Path) -> None:
    assert domain_violations(file_imports(path)) == [], (
        f"{path.relative_to(SRC)} imports outside the standard library and stageline.domain"
    )


@pytest.mark.parametrize("path", py_files(PACKAGE / "services"), ids=lambda p: p.name)
def test_services_do_not_import_adapters_or_frameworks(path: Path) -> None:
    assert services_violations(file_imports(path)) == [], (
        f"{path.relative_to(SRC)} imports an adapter or framework"
    )


def test_no_module_is_over_400_lines() -> None:
    too_long = {
        str(path.relative_to(SRC)): n
        for path in py_files(SRC)
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert too_long == {}, f"modules over {MAX_LINES} lines: {too_long}"
