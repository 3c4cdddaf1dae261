"""The console in a real browser (Debian's Chromium through Playwright) against a real
Stageline: pipelines made with boto3 show up and turn green live, approvals and retries given
from the page move runs on, failed actions' logs and errors read, and each page is kept as a
screenshot under test-output/console/."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, expect
from tests.console.conftest import screenshot, sign_in, simple
from tests.executions.declarations import approval, commands, pipeline, s3_source, stage, unique
from tests.executions.stack import Stack
from tests.support.shared import shared_dir

LIVE_TIMEOUT = 60_000


def mark_document(page: Page) -> None:
    """A marker that only survives if the page is never reloaded."""
    page.evaluate("window.__noReload = 'still here'")


def assert_not_reloaded(page: Page) -> None:
    assert page.evaluate("window.__noReload") == "still here"


@pytest.mark.both_stacks
def test_a_pipeline_created_with_boto3_appears_and_turns_green_live(
    page: Page, stack: Stack
) -> None:
    name, bucket = unique("console-live"), unique("src")
    stack.put_source(bucket, "app.zip", {"index.html": "<h1>hi</h1>"})
    page.goto(f"{stack.server.url}/console")
    expect(page.locator("#live-state")).to_have_text("Live", timeout=LIVE_TIMEOUT)
    mark_document(page)

    stack.create_pipeline(
        pipeline(
            name,
            stage("Source", s3_source(bucket)),
            stage("Build", commands("Build", ["sleep 2", "echo built"])),
        )
    )
    row = page.locator(f'[data-pipeline-row="{name}"]')
    expect(row).to_be_visible(timeout=LIVE_TIMEOUT)
    expect(row.locator('[data-status="Succeeded"]').first).to_be_visible(timeout=LIVE_TIMEOUT)
    expect(row).to_contain_text("Succeeded")
    expect(row).to_contain_text("CreatePipeline")
    assert_not_reloaded(page)
    screenshot(page, "pipelines", stack)

    # The pipeline view, updated live too: a second run's stages go green without a reload.
    page.get_by_role("link", name=name, exact=True).click()
    expect(page.locator('[data-stage="Build"] [data-status="Succeeded"]').first).to_be_visible()
    mark_document(page)
    stack.start(name)
    expect(page.locator("#pipeline-runs")).to_contain_text("In progress", timeout=LIVE_TIMEOUT)
    expect(page.locator("#pipeline-runs")).not_to_contain_text("In progress", timeout=LIVE_TIMEOUT)
    expect(page.locator('[data-stage="Build"] [data-status="Succeeded"]').first).to_be_visible()
    assert_not_reloaded(page)


@pytest.mark.both_stacks
def test_an_approval_given_from_the_page_lets_the_run_continue(page: Page, stack: Stack) -> None:
    name, execution_id = simple(
        stack,
        "console-approve",
        stage("Gate", approval("Approve", summary="Check the staging site")),
        stage("Ship", commands("Ship", ["echo shipping"])),
    )
    page.goto(f"{stack.server.url}/console/pipelines/{name}")
    form = page.locator('form[data-approval="Approve"]')
    expect(form).to_be_visible(timeout=LIVE_TIMEOUT)  # appears live once the run gets there
    expect(page.locator('[data-action="Approve"]')).to_contain_text("Check the staging site")
    screenshot(page, "pipeline-approval", stack)

    form.get_by_label("Comment").fill("Staging looks right")
    form.get_by_role("button", name="Approve").click()
    expect(page.locator(".flash-notice")).to_contain_text("Approve approved")
    expect(page.locator('[data-stage="Ship"] [data-status="Succeeded"]').first).to_be_visible(
        timeout=LIVE_TIMEOUT
    )
    stack.wait(name, execution_id, "Succeeded")
    approved = next(
        a for a in stack.action_executions(name, execution_id) if a["actionName"] == "Approve"
    )
    assert approved["status"] == "Succeeded"
    assert approved["output"]["executionResult"]["externalExecutionSummary"] == (
        "Staging looks right"
    )
    assert approved["updatedBy"].startswith("arn:aws:iam::")
    screenshot(page, "pipeline", stack)


@pytest.mark.both_stacks
def test_a_failed_actions_log_and_error_are_readable(page: Page, stack: Stack) -> None:
    name, execution_id = simple(
        stack,
        "console-fail",
        stage(
            "Build",
            commands(
                "Test", ["echo running the tests", "echo 'FAIL: test_checkout' >&2", "exit 3"]
            ),
        ),
    )
    stack.wait(name, execution_id, "Failed")
    page.goto(f"{stack.server.url}/console/pipelines/{name}")
    card = page.locator('[data-action="Test"]')
    expect(card).to_contain_text("Failed")
    card.get_by_role("link", name="Details and log").click()
    page.wait_for_url(re.compile(f"/executions/{execution_id}"))

    detail = page.locator("#action-Test")
    expect(detail).to_have_attribute("open", "")
    expect(detail.locator("[data-error]")).to_contain_text("exit")
    log = detail.locator("pre.log")
    expect(log).to_contain_text("running the tests")
    expect(log).to_contain_text("FAIL: test_checkout")
    expect(detail.locator("[data-log-state]")).to_contain_text("ended: Failed")
    expect(page.locator(".gantt .bar")).to_have_count(2)
    screenshot(page, "execution-failed", stack)


@pytest.mark.both_stacks
def test_a_retry_from_the_page_succeeds(page: Page, stack: Stack) -> None:
    name, bucket = unique("console-retry"), unique("src")
    fixed = shared_dir() / f"{name}.fixed"
    stack.put_source(bucket, "app.zip", {"a.txt": "a"})
    execution_id = stack.create_pipeline(
        pipeline(
            name,
            stage("Source", s3_source(bucket)),
            stage("Build", commands("Flaky", [f"test -f {fixed} || (echo not fixed yet; exit 1)"])),
        )
    )
    stack.wait(name, execution_id, "Failed")
    page.goto(f"{stack.server.url}/console/pipelines/{name}")
    fixed.write_text("yes")
    mark_document(page)
    page.locator('[data-stage="Build"]').get_by_role("button", name="Retry failed actions").click()
    expect(page.locator(".flash-notice")).to_contain_text("Retrying the failed actions")
    mark_document(page)
    expect(page.locator('[data-stage="Build"] [data-status="Succeeded"]').first).to_be_visible(
        timeout=LIVE_TIMEOUT
    )
    assert_not_reloaded(page)
    assert stack.wait(name, execution_id, "Succeeded")["pipelineExecutionId"] == execution_id
    attempts = [
        a["status"]
        for a in stack.action_executions(name, execution_id)
        if a["actionName"] == "Flaky"
    ]
    assert attempts == ["Failed", "Succeeded"]

    page.goto(f"{stack.server.url}/console/pipelines/{name}/executions/{execution_id}")
    expect(page.locator(".gantt .bar")).to_have_count(3)
    screenshot(page, "execution-retried", stack)
    page.goto(f"{stack.server.url}/console/pipelines/{name}/executions")
    expect(page.locator(f'[data-execution="{execution_id}"]')).to_contain_text("Succeeded")
    screenshot(page, "history", stack)


def test_sign_in_refuses_a_wrong_secret(browser: Browser, stack: Stack) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 760})
    tab = context.new_page()
    try:
        tab.goto(f"{stack.server.url}/console")
        tab.wait_for_url(re.compile(r"/console/sign-in\?next="))
        sign_in(tab, stack.server.url, secret="not-the-secret")
        expect(tab.get_by_role("alert")).to_contain_text("not valid")
        screenshot(tab, "sign-in-refused", stack)
        tab.goto(f"{stack.server.url}/console")
        expect(tab).to_have_url(re.compile(r"/console/sign-in"))
    finally:
        context.close()


def test_editing_the_json_shows_validation_errors_inline_and_saves_versions(
    page: Page, stack: Stack
) -> None:
    name, bucket = unique("console-edit"), unique("src")
    stack.put_source(bucket, "app.zip", {"a.txt": "a"})
    stack.create_pipeline(
        pipeline(
            name,
            stage("Source", s3_source(bucket)),
            stage("Build", commands("Build", ["echo one"])),
        )
    )
    page.goto(f"{stack.server.url}/console/pipelines/{name}/edit")
    editor = page.get_by_label("Pipeline JSON")
    original = editor.input_value()
    broken = original.replace('"name": "Build"', '"name": "Source"', 1)
    editor.fill(broken)
    page.get_by_role("button", name="Save new version").click()
    expect(page.locator("#editor-error")).to_contain_text("Source")
    assert page.get_by_label("Pipeline JSON").input_value() == broken  # the text is kept
    screenshot(page, "edit-error", stack)

    page.get_by_label("Pipeline JSON").fill(original.replace("echo one", "echo two"))
    page.get_by_role("button", name="Save new version").click()
    expect(page.locator(".flash-notice")).to_contain_text("Saved version 2")
    assert stack.client().get_pipeline(name=name)["metadata"]["pipelineArn"]
    page.get_by_role("link", name="Compare versions").click()
    expect(page.locator(".diff .d-del", has_text="echo one")).to_have_count(1)
    expect(page.locator(".diff .d-add", has_text="echo two")).to_have_count(1)
    expect(page.locator(".diff .d-add", has_text='"version": 2')).to_have_count(1)
    screenshot(page, "versions", stack)


def test_start_with_variables_and_transitions_from_the_page(page: Page, stack: Stack) -> None:
    name, bucket = unique("console-vars"), unique("src")
    stack.put_source(bucket, "app.zip", {"a.txt": "a"})
    stack.create_pipeline(
        pipeline(
            name,
            stage("Source", s3_source(bucket)),
            stage("Build", commands("Build", ["echo release #{variables.RELEASE}"])),
            variables=[{"name": "RELEASE", "defaultValue": "dev"}],
        )
    )
    page.goto(f"{stack.server.url}/console/pipelines/{name}")
    build = page.locator('[data-transition="Build"]')
    build.get_by_text("Disable transition").click()
    build.get_by_label("Reason").fill("Freeze for the audit")
    build.get_by_role("button", name="Disable").click()
    expect(page.locator('[data-transition="Build"]')).to_contain_text("Freeze for the audit")
    state = stack.state(name)["stageStates"][1]["inboundTransitionState"]
    assert state["enabled"] is False and state["disabledReason"] == "Freeze for the audit"
    # A run arriving at the frozen boundary shows as waiting there, live.
    held = stack.start(name)
    expect(page.locator('[data-transition="Build"]')).to_contain_text(
        f"Waiting: {held[:8]}", timeout=LIVE_TIMEOUT
    )
    screenshot(page, "pipeline-transition-disabled", stack)
    page.locator('[data-transition="Build"]').get_by_role(
        "button", name="Enable transition"
    ).click()
    expect(page.locator('[data-transition="Build"]')).to_contain_text("Transition enabled")
    stack.wait(name, held, "Succeeded")

    page.get_by_role("link", name="Start execution…").click()
    page.get_by_label("RELEASE").fill("2026.11")
    screenshot(page, "start", stack)
    page.get_by_role("button", name="Start execution").click()
    page.wait_for_url(re.compile(r"/executions/[0-9a-f-]{36}$"))
    execution_id = page.url.rsplit("/", 1)[1]
    stack.wait(name, execution_id, "Succeeded")
    variables = stack.execution(name, execution_id)["variables"]
    assert variables == [{"name": "RELEASE", "resolvedValue": "2026.11"}]
    expect(page.locator("#execution-head")).to_contain_text("Succeeded", timeout=LIVE_TIMEOUT)
    page.locator("#action-Build summary").click()
    expect(page.locator("#action-Build pre.log")).to_contain_text("release 2026.11")
    # Streamed once, however often the page refreshed around it.
    assert page.locator("#action-Source pre.log").inner_text().count("Copying") == 1


def test_the_pages_fit_a_phone_screen(browser: Browser, stack: Stack) -> None:
    name, bucket = unique("console-phone"), unique("src")
    stack.put_source(bucket, "app.zip", {"a.txt": "a"})
    execution_id = stack.create_pipeline(
        pipeline(
            name, stage("Source", s3_source(bucket)), stage("Build", commands("Build", ["true"]))
        )
    )
    stack.wait(name, execution_id, "Succeeded")
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    tab = context.new_page()
    try:
        sign_in(tab, stack.server.url)
        tab.wait_for_url(re.compile(r"/console$"))
        for path, shot in (
            ("/console", "phone-pipelines"),
            (f"/console/pipelines/{name}", "phone-pipeline"),
            (f"/console/pipelines/{name}/executions/{execution_id}", "phone-execution"),
        ):
            tab.goto(stack.server.url + path)
            overflow = tab.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 1, f"{path} scrolls sideways by {overflow}px on a phone"
            screenshot(tab, shot, stack)
        # Keyboard reachable: tabbing from the top reaches the pipeline link, with a focus ring.
        tab.goto(f"{stack.server.url}/console?q={name}")
        for _ in range(15):
            tab.keyboard.press("Tab")
            if tab.evaluate("document.activeElement.textContent") == name:
                break
        else:
            raise AssertionError("the pipeline link is not reachable with the keyboard")
        outline = tab.evaluate("getComputedStyle(document.activeElement).outlineStyle")
        assert outline != "none"
    finally:
        context.close()


@pytest.mark.both_stacks
def test_a_running_actions_log_and_bar_grow_live_then_stop_from_the_page(
    page: Page, stack: Stack
) -> None:
    name, bucket = unique("console-follow"), unique("src")
    go_on = shared_dir() / f"{name}.go"
    stack.put_source(bucket, "app.zip", {"a.txt": "a"})
    execution_id = stack.create_pipeline(
        pipeline(
            name,
            stage("Source", s3_source(bucket)),
            stage(
                "Build",
                commands(
                    "Long",
                    [
                        "echo step-one",
                        f"while [ ! -f {go_on} ]; do sleep 0.2; done",
                        "echo step-two",
                        "sleep 120",
                    ],
                ),
            ),
        )
    )
    page.goto(f"{stack.server.url}/console/pipelines/{name}/executions/{execution_id}")
    log = page.locator("#action-Long pre.log")
    expect(log).to_contain_text("step-one", timeout=LIVE_TIMEOUT)  # the action appears live
    assert "step-two" not in log.inner_text()
    mark_document(page)
    bar = page.locator(".gantt .bar").last
    first = bar.bounding_box()
    go_on.write_text("go")
    expect(log).to_contain_text("step-two", timeout=LIVE_TIMEOUT)
    page.wait_for_timeout(1500)
    later = bar.bounding_box()
    assert first and later and later["width"] > first["width"], (first, later)  # it grows
    assert_not_reloaded(page)
    screenshot(page, "execution-running", stack)

    page.locator("#execution-head").get_by_text("Stop…").click()
    page.get_by_label("Stop and abandon").check()
    page.get_by_label("Reason (optional)").fill("Not needed any more")
    page.get_by_role("button", name="Stop execution").click()
    expect(page.locator(".flash-notice")).to_contain_text("Abandoning")
    stack.wait(name, execution_id, "Stopped")
    expect(page.locator("#execution-head")).to_contain_text("Stopped", timeout=LIVE_TIMEOUT)
    page.locator("#action-Long summary").click()
    expect(page.locator("#action-Long [data-log-state]")).to_contain_text("ended: Abandoned")
    expect(page.locator("#action-Long pre.log")).to_contain_text("step-two")
