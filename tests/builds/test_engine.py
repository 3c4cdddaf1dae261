"""run_phases with real shells and real processes: the shell session, phase transitions,
on-failure, finally, exported variables, timeouts, stops, masking and CodeBuild's log lines."""

from __future__ import annotations

import re
import statistics
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.builds import run_build, workspace_root
from tests.support.processes import alive, wait_until

from stageline.builds import process

pytestmark = pytest.mark.timeout(60)
STAMP = r"\[Container\] \d{4}/\d\d/\d\d \d\d:\d\d:\d\d\.\d{6} "


@pytest.fixture(scope="module")
def root() -> Iterator[Path]:
    with workspace_root() as path:
        yield path


def spec(phases: str, head: str = "") -> str:
    return f"version: 0.2\n{head}phases:\n{phases}"


def test_exports_and_directory_carry_across_commands_and_phases(root: Path) -> None:
    built = run_build(
        root,
        spec(
            "  install:\n    commands:\n"
            "      - export TOOL=installed; mkdir -p deep/er && cd deep\n"
            "      - cd er; export GONE=soon\n"
            "  build:\n    commands:\n"
            "      - unset GONE; export LIST='a b'\n"
            '      - echo "dir=$(pwd) tool=$TOOL gone=${GONE:-unset} list=$LIST given=$GIVEN"\n'
        ),
        environment={"GIVEN": "from-request"},
    )
    assert built.outcome.status == "SUCCEEDED"
    assert f"dir={built.src}/deep/er tool=installed gone=unset list=a b given=from-request" in (
        built.log.lines
    )


def test_exit_fails_only_that_command_and_the_session_goes_on(root: Path) -> None:
    built = run_build(
        root,
        spec(
            "  build:\n    commands:\n      - export KEPT=yes; cd /tmp; exit 3\n"
            "  post_build:\n    commands:\n      - echo kept=$KEPT in $(pwd)\n"
        ),
    )
    assert built.outcome.status == "FAILED"
    assert built.outcome.message == (
        "Error while executing command: export KEPT=yes; cd /tmp; exit 3. Reason: exit status 3"
    )
    assert "kept=yes in /tmp" in built.log.lines


@pytest.mark.parametrize("shell", ["", "env:\n  shell: bash\n"], ids=["sh", "bash"])
def test_shell_variables_carry_too_as_in_codebuilds_examples(root: Path, shell: str) -> None:
    """AWS's ECS sample sets IMAGE_TAG=... (not exported) in pre_build and uses it in build."""
    built = run_build(
        root,
        spec(
            "  pre_build:\n    commands:\n"
            "      - COMMIT=abc1234; IMAGE_TAG=${COMMIT:=latest}\n"
            "      - 'NOTE=\"two\n        lines\"'\n"
            "  build:\n    commands:\n"
            "      - echo tag=$IMAGE_TAG\n"
            '      - \'echo "note=$NOTE" | tr "\\n" " "; echo\'\n'
            "      - 'env | grep -c ^IMAGE_TAG= || true'\n",
            shell,
        ),
    )
    assert built.outcome.status == "SUCCEEDED", built.log.lines
    assert "tag=abc1234" in built.log.lines
    assert "note=two lines " in built.log.lines
    assert "0" in built.log.lines  # still a shell variable, not in the environment


def test_version_01_runs_each_command_in_a_fresh_shell(root: Path) -> None:
    built = run_build(
        root,
        "version: 0.1\nphases:\n  build:\n    commands:\n"
        "      - export X=1; cd /tmp\n      - echo x=${X:-unset} dir=$(pwd)\n",
    )
    assert f"x=unset dir={built.src}" in built.log.lines


def test_sh_is_the_default_shell_and_bash_can_be_chosen(root: Path) -> None:
    check = "  build:\n    commands:\n      - echo shell=${BASH_VERSION:+bash}\n"
    assert "shell=" in run_build(root, spec(check)).log.lines
    bash = run_build(
        root, spec(check + "      - '[[ 1 == 1 ]] && echo brackets'\n", "env:\n  shell: bash\n")
    )
    assert "shell=bash" in bash.log.lines
    assert "brackets" in bash.log.lines


def test_build_failure_still_runs_post_build_with_succeeding_0(root: Path) -> None:
    built = run_build(
        root,
        spec(
            "  install:\n    commands:\n      - echo install=$CODEBUILD_BUILD_SUCCEEDING\n"
            "  build:\n    commands:\n      - 'false'\n      - echo not reached\n"
            "  post_build:\n    commands:\n      - echo post=$CODEBUILD_BUILD_SUCCEEDING\n"
        ),
    )
    assert built.statuses == [
        ("INSTALL", "SUCCEEDED"),
        ("PRE_BUILD", "SUCCEEDED"),
        ("BUILD", "FAILED"),
        ("POST_BUILD", "SUCCEEDED"),
    ]
    assert "install=1" in built.log.lines and "post=0" in built.log.lines
    assert "not reached" not in built.log.text
    assert built.outcome.status == "FAILED"
    assert built.outcome.failed_phase == "BUILD"


@pytest.mark.parametrize("failing", ["install", "pre_build"])
def test_install_or_pre_build_failure_ends_the_build(root: Path, failing: str) -> None:
    phases = "".join(
        f"  {name}:\n    commands:\n      - echo ran {name}{'; exit 1' if name == failing else ''}\n"
        for name in ("install", "pre_build", "build", "post_build")
    )
    built = run_build(root, spec(phases))
    assert built.statuses[-1] == (failing.upper(), "FAILED")
    assert len(built.statuses) == ("install", "pre_build").index(failing) + 1
    assert "ran build" not in built.log.text and "ran post_build" not in built.log.text


def test_on_failure_abort_in_build_skips_post_build(root: Path) -> None:
    built = run_build(
        root,
        spec(
            "  build:\n    on-failure: ABORT\n    commands:\n      - exit 1\n"
            "  post_build:\n    commands:\n      - echo deploying\n"
        ),
    )
    assert built.statuses[-1] == ("BUILD", "FAILED")
    assert "deploying" not in built.log.text


def test_on_failure_continue_in_install_goes_on_and_the_build_fails(root: Path) -> None:
    built = run_build(
        root,
        spec(
            "  install:\n    on-failure: CONTINUE\n    commands:\n      - exit 2\n"
            "  build:\n    commands:\n      - echo building with $CODEBUILD_BUILD_SUCCEEDING\n"
        ),
    )
    assert [status for _, status in built.statuses] == ["FAILED", *["SUCCEEDED"] * 3]
    assert "building with 0" in built.log.lines
    assert (built.outcome.status, built.outcome.failed_phase) == ("FAILED", "INSTALL")


def test_finally_runs_after_a_failure_and_its_own_failure_fails_the_phase(root: Path) -> None:
    built = run_build(
        root,
        spec(
            "  pre_build:\n    commands:\n      - echo one\n      - exit 4\n      - echo skipped\n"
            "    finally:\n      - echo cleanup=$CODEBUILD_BUILD_SUCCEEDING\n"
            "  build:\n    commands:\n      - echo fine\n"
            "    finally:\n      - exit 5\n      - echo after-finally-failure\n"
        ),
    )
    assert "cleanup=0" in built.log.lines and "skipped" not in built.log.text
    assert built.outcome.message == "Error while executing command: exit 4. Reason: exit status 4"
    built = run_build(
        root, spec("  build:\n    commands:\n      - echo fine\n    finally:\n      - exit 5\n")
    )
    assert built.statuses[2] == ("BUILD", "FAILED")
    assert built.outcome.message == "Error while executing command: exit 5. Reason: exit status 5"


def test_retry_runs_the_phase_again(root: Path) -> None:
    flaky = "n=$(($(cat n 2>/dev/null || echo 0) + 1)); echo $n > n; echo attempt $n; [ $n -ge 2 ]"
    built = run_build(
        root, spec(f"  build:\n    on-failure: RETRY-2\n    commands:\n      - '{flaky}'\n")
    )
    assert built.outcome.status == "SUCCEEDED"
    assert built.statuses[2:] == [
        ("BUILD", "FAILED"),
        ("BUILD", "SUCCEEDED"),
        ("POST_BUILD", "SUCCEEDED"),
    ]
    assert any(line.endswith("Retrying phase BUILD: attempt 2 of 3") for line in built.log.lines)


def test_retry_with_a_regex_retries_only_matching_failures(root: Path) -> None:
    phases = "  build:\n    on-failure: RETRY-1-flaky net\n    commands:\n      - echo {}; exit 1\n"
    other = run_build(root, spec(phases.format("disk full")))
    assert [s for t, s in other.statuses if t == "BUILD"] == ["FAILED"]
    matching = run_build(root, spec(phases.format("flaky network")))
    assert [s for t, s in matching.statuses if t == "BUILD"] == ["FAILED", "FAILED"]
    assert matching.statuses[-1] == ("POST_BUILD", "SUCCEEDED")  # then the transitions apply


def test_exported_variables_are_read_after_the_last_phase(root: Path) -> None:
    built = run_build(
        root,
        spec(
            "  build:\n    commands:\n      - export IMAGE_TAG=v1 LATER=early; unset GONE\n"
            "      - exit 1\n"
            "  post_build:\n    commands:\n      - export LATER='after post build'\n",
            "env:\n  variables:\n    FROM_SPEC: spec\n  exported-variables:\n"
            "    [IMAGE_TAG, LATER, GONE, NEVER_SET, FROM_SPEC, AWS_REGION, TOKEN, bad-name]\n",
        ),
        environment={"GONE": "here", "AWS_REGION": "eu-west-1", "TOKEN": "s3cr3t"},
        secrets=["s3cr3t"],
    )
    assert built.outcome.status == "FAILED"
    assert built.outcome.exported_variables == {
        "IMAGE_TAG": "v1",
        "LATER": "after post build",
        "FROM_SPEC": "spec",
    }
    assert any(
        line.endswith("Exported variable TOKEN skipped: it holds a secret")
        for line in built.log.lines
    )
    assert any(
        line.endswith("Exported variable AWS_REGION skipped: it cannot be exported")
        for line in built.log.lines
    )


def test_request_environment_overrides_buildspec_variables(root: Path) -> None:
    built = run_build(
        root,
        spec(
            "  build:\n    commands:\n      - echo $WHO $ONLY\n",
            "env:\n  variables:\n    WHO: spec\n    ONLY: spec-only\n",
        ),
        environment={"WHO": "project"},
    )
    assert "project spec-only" in built.log.lines


def test_timeout_kills_the_whole_process_tree(root: Path) -> None:
    started = time.monotonic()
    built = run_build(
        root,
        spec(
            "  build:\n    commands:\n"
            "      - sleep 300 & echo $! > child.pid; "
            "sh -c 'sleep 300 & echo $! > grandchild.pid; wait' & sleep 300\n"
            "  post_build:\n    commands:\n      - echo post\n",
            "env:\n  exported-variables: [HOME]\n",
        ),
        timeout=1.0,
    )
    assert built.outcome.status == "TIMED_OUT"
    assert time.monotonic() - started < 1.0 + process.KILL_GRACE_SECONDS
    assert built.statuses[-1] == ("BUILD", "TIMED_OUT")
    assert (built.outcome.failed_phase, built.outcome.message) == ("BUILD", "Build has timed out. ")
    assert "post" not in built.log.lines
    assert built.outcome.exported_variables == {}
    pids = [int((built.src / name).read_text()) for name in ("child.pid", "grandchild.pid")]
    assert wait_until(lambda: not any(alive(pid) for pid in pids), 5)
    assert re.search(STAMP + "Phase complete: BUILD State: TIMED_OUT$", built.log.text, re.M)


def test_a_process_ignoring_sigterm_gets_sigkill(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(process, "KILL_GRACE_SECONDS", 0.5)
    built = run_build(
        root,
        spec("  build:\n    commands:\n      - trap '' TERM; sleep 300 & echo $! > pid; wait\n"),
        timeout=1.0,
    )
    assert built.outcome.status == "TIMED_OUT"
    assert built.seconds < 5
    assert wait_until(lambda: not alive(int((built.src / "pid").read_text())), 5)


def test_cancellation_stops_the_build_checking_about_once_a_second(root: Path) -> None:
    checks: list[float] = []
    start = time.monotonic()

    def cancelled() -> bool:
        checks.append(time.monotonic())
        return time.monotonic() - start > 1.5

    built = run_build(
        root,
        spec("  pre_build:\n    commands:\n      - sleep 300 & echo $! > pid; sleep 300\n"),
        cancelled=cancelled,
    )
    assert built.outcome.status == "STOPPED"
    assert built.statuses[-1] == ("PRE_BUILD", "STOPPED")
    assert built.seconds < 1.5 + 1.0 + process.KILL_GRACE_SECONDS
    assert 2 <= len(checks) <= 4
    assert wait_until(lambda: not alive(int((built.src / "pid").read_text())), 5)


def test_background_processes_live_on_until_the_build_ends(root: Path) -> None:
    built = run_build(
        root,
        spec(
            "  install:\n    commands:\n      - sleep 300 & echo $! > bg.pid\n"
            "  build:\n    commands:\n      - kill -0 $(cat bg.pid) && echo still running\n"
        ),
    )
    assert built.outcome.status == "SUCCEEDED"
    assert "still running" in built.log.lines
    assert built.seconds < 2
    assert wait_until(lambda: not alive(int((built.src / "bg.pid").read_text())), 5)


def test_output_streams_live_line_by_line(root: Path) -> None:
    built = run_build(
        root, spec("  build:\n    commands:\n      - echo first; sleep 1.5; echo second\n")
    )
    assert built.log.arrival("second") - built.log.arrival("first") > 1.0


def test_secrets_are_masked_in_every_line_even_across_reads(root: Path) -> None:
    built = run_build(
        root,
        spec(
            "  build:\n    commands:\n"
            "      - printf 'hun'; sleep 0.3; printf 'ter2 and %s\\n' \"$TOKEN\"\n"
            "      - echo hunter2 >&2; printf 'multi\\nline\\n'; exit 1\n"
        ),
        environment={"TOKEN": "tok-123"},
        secrets=["hunter2", "tok-123", "", "multi\nline"],
    )
    assert "*** and ***" in built.log.lines
    assert "hunter2" not in built.log.text and "tok-123" not in built.log.text
    assert "multi" not in built.log.text
    assert any(
        re.fullmatch(STAMP + r"Running command echo \*\*\* >&2; .*", line)
        for line in built.log.lines
    )
    assert built.outcome.message is not None and "***" in built.outcome.message
    assert "hunter2" not in built.outcome.message
    assert all("hunter2" not in line for line in built.outcome.log_tail)
    assert len(built.outcome.log_tail) == process.TAIL_LINES


def test_output_without_a_final_newline_ends_before_the_next_line(root: Path) -> None:
    built = run_build(
        root, spec("  build:\n    commands:\n      - printf partial\n      - echo next\n")
    )
    lines = built.log.lines
    assert lines[lines.index("partial") + 1].endswith("Running command echo next")


def test_log_lines_are_codebuilds(root: Path) -> None:
    built = run_build(
        root,
        spec("  build:\n    commands:\n      - echo hi\n      - exit 1\n"),
        image="aws/codebuild/standard:7.0",
    )
    text = built.log.text
    lines = [
        "Entering phase BUILD",
        "Running command echo hi",
        "Command did not exit successfully exit 1 exit status 1",
        "Phase complete: BUILD State: FAILED",
        "Phase context status code: COMMAND_EXECUTION_ERROR "
        "Message: Error while executing command: exit 1. Reason: exit status 1",
        "Phase complete: POST_BUILD State: SUCCEEDED",
        "Phase context status code:  Message: ",
    ]
    for line in lines:
        assert re.search("^" + STAMP + re.escape(line) + "$", text, re.M), line


def test_a_command_killed_by_a_signal_says_so(root: Path) -> None:
    built = run_build(root, spec("  build:\n    commands:\n      - kill -9 $$\n"))
    assert (
        built.outcome.message == "Error while executing command: kill -9 $$. Reason: signal: killed"
    )


def test_every_phase_is_reported_when_it_starts_and_ends(root: Path) -> None:
    built = run_build(root, spec("  build:\n    commands:\n      - 'true'\n"))
    assert [(c.phase_type, c.status) for c in built.calls] == [
        (phase, status)
        for phase in ("INSTALL", "PRE_BUILD", "BUILD", "POST_BUILD")
        for status in (None, "SUCCEEDED")
    ]
    assert all(c.end is not None and c.end >= c.start for c in built.outcome.phases)


def test_a_true_build_costs_little_more_than_starting_true(root: Path) -> None:
    buildspec = spec("  build:\n    commands:\n      - 'true'\n")
    runs = [run_build(root, buildspec).seconds for _ in range(7)]
    baseline = []
    for _ in range(7):
        start = time.monotonic()
        subprocess.run(["true"], check=True)
        baseline.append(time.monotonic() - start)
    assert statistics.median(runs) < 0.1, (runs, baseline)
