"""Console tests: a real Stageline (the executions tests' stacks) driven by Debian's Chromium
through Playwright, and by plain httpx.

`stack` is embedded for every test; tests marked `both_stacks` also run on the production
stack (Postgres, Celery workers, Redis, moto's S3). Screenshots go to test-output/console/.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright
from tests.executions import conftest as executions
from tests.executions.declarations import pipeline, s3_source, stage, unique
from tests.executions.stack import Stack
from tests.support.servers import ACCESS_KEY_ID, SECRET_ACCESS_KEY

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "console"
SESSION_STARTED = time.time()
# The executions tests' two stacks, and their logs attached to a failure's report.
stack = executions.stack
pytest_runtest_makereport = executions.pytest_runtest_makereport

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "both_stacks: console test that also runs on the production stack"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Console tests run on the production stack only when marked both_stacks."""
    here = Path(__file__).parent
    dropped = [
        item
        for item in items
        if here in Path(str(item.fspath)).parents
        and getattr(item, "callspec", None) is not None
        and item.callspec.params.get("stack") == "production"  # type: ignore[attr-defined]
        and item.get_closest_marker("both_stacks") is None
    ]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if item not in dropped]


# Module scope, not session: a running sync Playwright keeps an event loop running in the main
# thread, and later tests that call asyncio.run() would fail.
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    chromium = playwright.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
    )
    yield chromium
    chromium.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 860})
    ctx.set_default_timeout(20_000)
    yield ctx
    ctx.close()


def sign_in(
    page: Page, base_url: str, key: str = ACCESS_KEY_ID, secret: str = SECRET_ACCESS_KEY
) -> None:
    page.goto(f"{base_url}/console/sign-in")
    page.get_by_label("Access key id").fill(key)
    page.get_by_label("Secret access key").fill(secret)
    page.get_by_role("button", name="Sign in").click()


@pytest.fixture
def page(context: BrowserContext, stack: Stack) -> Page:
    """A browser tab signed in to the stack's console."""
    tab = context.new_page()
    sign_in(tab, stack.server.url)
    tab.wait_for_url(re.compile(r"/console$"))
    return tab


def screenshot(page: Page, name: str, stack: Stack, *, full_page: bool = True) -> Path:
    """Keep a screenshot as test output and print where it is."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}-{stack.mode}.png"
    page.screenshot(path=str(path), full_page=full_page)
    print(f"screenshot: {path}")
    return path


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """List the screenshots this run saved, so they are found without -s."""
    saved = sorted(p for p in SCREENSHOTS.glob("*.png") if p.stat().st_mtime >= SESSION_STARTED - 1)
    if saved:
        terminalreporter.section("console screenshots")
        for path in saved:
            terminalreporter.write_line(str(path))


class ConsoleClient:
    """A signed-in httpx session: the cookie and the CSRF token a page would carry."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, follow_redirects=False, timeout=20)
        self.csrf = ""

    def sign_in(self, key: str = ACCESS_KEY_ID, secret: str = SECRET_ACCESS_KEY) -> httpx.Response:
        self.csrf = csrf_of(self.http.get("/console/sign-in").text)
        response = self.http.post(
            "/console/sign-in",
            data={"csrf": self.csrf, "access_key_id": key, "secret": secret, "next": "/console"},
        )
        if response.status_code == 303:
            self.csrf = csrf_of(self.http.get("/console").text)
        return response

    def close(self) -> None:
        self.http.close()


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)


@pytest.fixture
def console(stack: Stack) -> Iterator[ConsoleClient]:
    client = ConsoleClient(stack.server.url)
    assert client.sign_in().status_code == 303
    yield client
    client.close()


def simple(stack: Stack, prefix: str, *extra: dict[str, Any]) -> tuple[str, str]:
    """A pipeline of an S3 source stage and then `extra`: its name and its first run's id."""
    name, bucket = unique(prefix), unique("src")
    stack.put_source(bucket, "app.zip", {"a.txt": "a"})
    execution_id = stack.create_pipeline(pipeline(name, stage("Source", s3_source(bucket)), *extra))
    return name, execution_id


def read_events(lines: Iterator[str], until: str, timeout: float = 30) -> list[dict[str, str]]:
    """Parse SSE events off a stream's lines until one of kind `until` arrives."""
    events: list[dict[str, str]] = []
    current: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    for line in lines:
        if time.monotonic() > deadline:
            raise AssertionError(f"no {until} event in {timeout} s: {events}")
        if line == "":
            if current:
                events.append(current)
                if current.get("event") == until:
                    return events
            current = {}
            continue
        field, _, value = line.partition(": ")
        if field == "data" and "data" in current:
            current["data"] += "\n" + value
        else:
            current[field] = value
    raise AssertionError(f"stream ended before {until}: {events}")
