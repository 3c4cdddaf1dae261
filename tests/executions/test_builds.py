"""Standalone builds (StartBuild) end to end, on both shapes of Stageline: real buildspecs run
by real workers, sources from the object store, artifacts and test reports back in it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from tests.executions.builds import (
    build_log,
    buildspec,
    create_project,
    get_build,
    phases,
    rest,
    start_build,
    unique,
    vendored_pytest,
    wait_build,
    zip_of,
)
from tests.executions.stack import Stack
from tests.support.processes import alive
from tests.support.servers import ACCESS_KEY_ID, SECRET_ACCESS_KEY

PYTHON_PROJECT = {
    "calc.py": "def add(a, b):\n    return a + b\n",
    "tests/test_calc.py": (
        "import time\nfrom calc import add\n\n"
        "def test_add():\n    assert add(2, 3) == 5\n\n"
        "def test_add_negative():\n    time.sleep(0.01)\n    assert add(-1, 1) == 0\n"
    ),
    "buildspec.yml": buildspec(
        """
version: 0.2
env:
  variables:
    PYTHONPATH: vendor
  exported-variables:
    - PACKAGE_VERSION
phases:
  install:
    runtime-versions:
      python: 3.11
    commands:
      - python3 --version
  build:
    commands:
      - export PACKAGE_VERSION=1.2.$CODEBUILD_BUILD_NUMBER
      - PYTHONPATH=vendor:. python3 -m pytest -p no:cacheprovider --junitxml=reports/junit.xml tests
      - mkdir -p dist && cp calc.py dist/ && echo "$PACKAGE_VERSION" > dist/VERSION
reports:
  unit-tests:
    files:
      - reports/junit.xml
    file-format: JUNITXML
artifacts:
  files:
    - '**/*'
  base-directory: dist
"""
    ),
}


def s3_project(stack: Stack, name: str, bucket: str, key: str, **extra: Any) -> None:
    stack.create_bucket(bucket)
    create_project(
        stack,
        name,
        source={"type": "S3", "location": f"{bucket}/{key}"},
        artifacts={
            "type": "S3",
            "location": bucket,
            "path": "out",
            "name": "package.zip",
            "packaging": "ZIP",
            "namespaceType": "BUILD_ID",
        },
        **extra,
    )


def test_a_python_project_builds_tests_and_reports(stack: Stack) -> None:
    name, bucket = unique("py"), unique("src")
    stack.put_object(bucket, "app.zip", zip_of({**PYTHON_PROJECT, **vendored_pytest()}))
    s3_project(stack, name, bucket, "app.zip")

    build = wait_build(stack, start_build(stack, name))

    log = build_log(stack, build["id"])
    assert build["buildStatus"] == "SUCCEEDED", log
    assert build["buildNumber"] == 1 and build["initiator"] == "root"
    assert list(phases(build)) == [
        "SUBMITTED",
        "QUEUED",
        "PROVISIONING",
        "DOWNLOAD_SOURCE",
        "INSTALL",
        "PRE_BUILD",
        "BUILD",
        "POST_BUILD",
        "UPLOAD_ARTIFACTS",
        "FINALIZING",
        "COMPLETED",
    ]
    assert all(s == "SUCCEEDED" for p, s in phases(build).items() if p != "COMPLETED")
    assert "2 passed" in log and "Entering phase BUILD" in log
    assert build["exportedEnvironmentVariables"] == [{"name": "PACKAGE_VERSION", "value": "1.2.1"}]
    assert build["resolvedSourceVersion"]

    # The artifact: dist/ zipped at path/<build uuid>/name.
    location = build["artifacts"]["location"]
    key = location.split(f"{bucket}/", 1)[1]
    assert key == f"out/{build['id'].split(':')[1]}/package.zip"
    assert stack.read_zip(bucket, key) == {
        "calc.py": PYTHON_PROJECT["calc.py"],
        "VERSION": "1.2.1\n",
    }

    # The JUnit report, parsed into a test report.
    cb = stack.codebuild()
    [arn] = build["reportArns"]
    [report] = cb.batch_get_reports(reportArns=[arn])["reports"]
    assert report["reportGroupArn"].endswith(f":report-group/{name}-unit-tests")
    assert report["status"] == "SUCCEEDED"
    assert report["testSummary"]["total"] == 2
    assert report["testSummary"]["statusCounts"]["SUCCEEDED"] == 2
    assert report["testSummary"]["durationInNanoSeconds"] > 0
    cases = cb.describe_test_cases(reportArn=arn)["testCases"]
    assert sorted(c["name"] for c in cases) == ["test_add", "test_add_negative"]
    assert (
        arn in cb.list_reports_for_report_group(reportGroupArn=report["reportGroupArn"])["reports"]
    )


ON_FAILURE = buildspec(
    """
version: 0.2
phases:
  pre_build:
    on-failure: CONTINUE
    commands:
      - echo before-failure
      - exit 3
      - echo never-printed
    finally:
      - echo cleanup-ran
  build:
    commands:
      - echo "succeeding=$CODEBUILD_BUILD_SUCCEEDING"
  post_build:
    commands:
      - echo post-build-ran
"""
)


def test_a_failing_phase_with_on_failure_continue_and_finally(stack: Stack) -> None:
    name = unique("cont")
    create_project(stack, name)
    build = wait_build(stack, start_build(stack, name, buildspecOverride=ON_FAILURE))

    log = build_log(stack, build["id"])
    assert build["buildStatus"] == "FAILED", log
    seen = phases(build)
    assert seen["PRE_BUILD"] == "FAILED" and seen["BUILD"] == "SUCCEEDED", seen
    assert "cleanup-ran" in log and "never-printed" not in log
    assert "succeeding=0" in log and "post-build-ran" in log
    failed = next(p for p in build["phases"] if p["phaseType"] == "PRE_BUILD")
    assert failed["contexts"][0]["statusCode"] == "COMMAND_EXECUTION_ERROR"
    assert "exit 3" in failed["contexts"][0]["message"]


def test_on_failure_abort_skips_to_the_end(stack: Stack) -> None:
    name = unique("abort")
    create_project(stack, name)
    spec = "version: 0.2\nphases:\n  install:\n    commands: ['false']\n  build:\n    commands: ['echo build-ran']\n"
    build = wait_build(stack, start_build(stack, name, buildspecOverride=spec))
    log = build_log(stack, build["id"])
    assert build["buildStatus"] == "FAILED"
    assert phases(build)["INSTALL"] == "FAILED" and "BUILD" not in phases(build)
    assert "build-ran" not in log


def test_secondary_sources_and_secondary_artifacts(stack: Stack) -> None:
    name, bucket = unique("multi"), unique("multi")
    stack.put_object(bucket, "app.zip", zip_of({"main.txt": "main"}))
    stack.put_object(bucket, "lib.zip", zip_of({"lib.txt": "lib"}))
    spec = buildspec(
        """
version: 0.2
phases:
  build:
    commands:
      - cat main.txt "$CODEBUILD_SRC_DIR_lib/lib.txt" > both.txt
      - mkdir -p docs && echo manual > docs/manual.txt
artifacts:
  files: [both.txt]
  secondary-artifacts:
    binaries:
      files: [both.txt]
      name: bin
    documents:
      base-directory: docs
      files: ['**/*']
"""
    )
    s3_project(
        stack,
        name,
        bucket,
        "app.zip",
        secondarySources=[
            {"type": "S3", "location": f"{bucket}/lib.zip", "sourceIdentifier": "lib"}
        ],
        secondaryArtifacts=[
            {
                "type": "S3",
                "location": bucket,
                "name": "bin.zip",
                "packaging": "ZIP",
                "artifactIdentifier": "binaries",
            },
            {
                "type": "S3",
                "location": bucket,
                "path": "docs",
                "name": "site",
                "artifactIdentifier": "documents",
            },
        ],
    )
    build = wait_build(stack, start_build(stack, name, buildspecOverride=spec))
    assert build["buildStatus"] == "SUCCEEDED", build_log(stack, build["id"])
    by_id = {a["artifactIdentifier"]: a for a in build["secondaryArtifacts"]}
    assert set(by_id) == {"binaries", "documents"}
    assert stack.read_zip(bucket, "bin.zip") == {"both.txt": "mainlib"}
    # packaging NONE (the default): the files themselves under path/name.
    assert stack.read_object(bucket, "docs/site/manual.txt") == b"manual\n"


def test_overrides_variables_and_source_version(stack: Stack) -> None:
    name, bucket = unique("over"), unique("over")
    first = stack.put_object(bucket, "app.zip", zip_of({"v.txt": "one"}))
    stack.put_object(bucket, "app.zip", zip_of({"v.txt": "two"}))
    s3_project(
        stack,
        name,
        bucket,
        "app.zip",
        environment={
            "type": "LINUX_CONTAINER",
            "image": "aws/codebuild/standard:7.0",
            "computeType": "BUILD_GENERAL1_SMALL",
            "environmentVariables": [{"name": "GREETING", "value": "from-project"}],
        },
    )
    spec = buildspec(
        """
version: 0.2
env:
  variables:
    GREETING: from-buildspec
    ONLY_SPEC: spec
phases:
  build:
    commands:
      - echo "greeting=$GREETING spec=$ONLY_SPEC file=$(cat v.txt) src=$CODEBUILD_RESOLVED_SOURCE_VERSION"
"""
    )
    params: dict[str, Any] = {
        "buildspecOverride": spec,
        "artifactsOverride": {"type": "NO_ARTIFACTS"},
        "environmentVariablesOverride": [
            {"name": "GREETING", "value": "from-start", "type": "PLAINTEXT"}
        ],
    }
    if stack.mode == "production":  # versioned S3: sourceVersion picks the first upload
        params["sourceVersion"] = first
    build = wait_build(stack, start_build(stack, name, **params))
    log = build_log(stack, build["id"])
    assert build["buildStatus"] == "SUCCEEDED", log
    expected = "one" if stack.mode == "production" else "two"
    assert f"greeting=from-start spec=spec file={expected}" in log


def test_parameter_store_and_secrets_are_resolved_and_masked(stack: Stack) -> None:
    name = unique("secret")
    ssm, secrets = stack.aws("ssm"), stack.aws("secretsmanager")
    ssm.put_parameter(Name=f"/{name}/token", Value="tok-3141592", Type="SecureString")
    secrets.create_secret(Name=f"{name}-db", SecretString=json.dumps({"password": "pw-2718281"}))
    create_project(stack, name)
    spec = buildspec(
        f"""
version: 0.2
env:
  parameter-store:
    TOKEN: /{name}/token
  secrets-manager:
    DB_PASSWORD: {name}-db:password
phases:
  build:
    commands:
      - echo "token is $TOKEN and password is $DB_PASSWORD"
      - test "$TOKEN" = tok-3141592 && test "$DB_PASSWORD" = pw-2718281 && echo values-match
"""
    )
    build = wait_build(stack, start_build(stack, name, buildspecOverride=spec))
    log = build_log(stack, build["id"])
    assert build["buildStatus"] == "SUCCEEDED", log
    assert "values-match" in log
    assert "tok-3141592" not in log and "pw-2718281" not in log
    assert "token is *** and password is ***" in log


def test_a_missing_parameter_fails_the_build_clearly(stack: Stack) -> None:
    name = unique("noparam")
    create_project(stack, name)
    spec = "version: 0.2\nenv:\n  parameter-store:\n    X: /does/not/exist\nphases:\n  build:\n    commands: ['echo hi']\n"
    build = wait_build(stack, start_build(stack, name, buildspecOverride=spec))
    assert build["buildStatus"] == "FAILED"
    failed = [p for p in build["phases"] if p.get("phaseStatus") == "FAILED"]
    assert failed and "/does/not/exist" in failed[0]["contexts"][0]["message"]


def test_the_build_sees_nothing_of_the_server(stack: Stack) -> None:
    name = unique("env")
    create_project(stack, name)
    # What it looks for is put together at run time, so the log's "Running command" lines
    # (which show the commands) cannot contain it.
    half = len(SECRET_ACCESS_KEY) // 2
    spec = buildspec(
        f"""
version: 0.2
env:
  variables:
    K1: "{SECRET_ACCESS_KEY[:half]}"
    K2: "{SECRET_ACCESS_KEY[half:]}"
phases:
  build:
    commands:
      - env | sort
      - if env | grep -q '^STAGELINE_'; then echo "LE""AK-ENV"; fi
      - if cat /proc/$PPID/environ 2>/dev/null | tr '\\0' '\\n' | grep -q STAGELINE_; then echo "LE""AK-PARENT"; fi
      - for f in /proc/[0-9]*/environ; do if grep -qs -e "$K1$K2" -e STAGELINE_DATABASE "$f"; then echo "LE""AK-PROC $f"; fi; done
      - id -u
      - echo scan-done
"""
    )
    build = wait_build(stack, start_build(stack, name, buildspecOverride=spec))
    log = build_log(stack, build["id"])
    assert build["buildStatus"] == "SUCCEEDED", log
    assert "scan-done" in log and "LEAK" not in log
    assert SECRET_ACCESS_KEY not in log
    assert "CODEBUILD_BUILD_ID=" in log and "CODEBUILD_SRC_DIR=" in log
    if os.geteuid() == 0:  # a root worker runs builds as nobody
        assert "\n65534\n" in log


def test_cache_paths_are_kept_between_builds_of_a_project(stack: Stack) -> None:
    name = unique("cache")
    create_project(stack, name, cache={"type": "LOCAL", "modes": ["LOCAL_CUSTOM_CACHE"]})
    spec = buildspec(
        """
version: 0.2
phases:
  build:
    commands:
      - if [ -f deps/lib.txt ]; then echo "cache-hit $(cat deps/lib.txt)"; else echo cache-miss; fi
      - mkdir -p deps && echo "$CODEBUILD_BUILD_NUMBER" > deps/lib.txt
cache:
  paths:
    - deps/**/*
"""
    )
    first = wait_build(stack, start_build(stack, name, buildspecOverride=spec))
    assert "cache-miss" in build_log(stack, first["id"])
    second = wait_build(stack, start_build(stack, name, buildspecOverride=spec))
    assert "cache-hit 1" in build_log(stack, second["id"])


def test_stop_build_kills_it_and_the_log_follows_live(stack: Stack) -> None:
    name = unique("stop")
    create_project(stack, name)
    spec = "version: 0.2\nphases:\n  build:\n    commands:\n      - echo started-$CODEBUILD_BUILD_NUMBER\n      - sleep 300\n"
    build_id = start_build(stack, name, buildspecOverride=spec)
    followed: list[str] = []

    def follow() -> None:
        with (
            rest(stack) as client,
            client.stream(
                "GET", f"/api/v1/builds/{build_id}/logs", params={"follow": "true"}
            ) as response,
        ):
            followed.extend(response.iter_text())

    reader = threading.Thread(target=follow, daemon=True)
    reader.start()
    stack.wait_for("the build to print", lambda: "started-1" in "".join(followed), timeout=60)
    assert get_build(stack, build_id)["currentPhase"] == "BUILD"
    stopped_at = time.monotonic()
    stack.codebuild().stop_build(id=build_id)
    build = wait_build(stack, build_id, timeout=30)
    assert build["buildStatus"] == "STOPPED"
    assert time.monotonic() - stopped_at < 15
    reader.join(timeout=10)
    assert not reader.is_alive(), "the followed log did not end with the build"


def test_builds_are_listed_newest_first(stack: Stack) -> None:
    name = unique("list")
    create_project(stack, name)
    spec = "version: 0.2\nphases:\n  build:\n    commands: ['true']\n"
    ids = [start_build(stack, name, buildspecOverride=spec) for _ in range(2)]
    for build_id in ids:
        wait_build(stack, build_id)
    cb = stack.codebuild()
    assert cb.list_builds_for_project(projectName=name)["ids"] == list(reversed(ids))
    assert cb.list_builds_for_project(projectName=name, sortOrder="ASCENDING")["ids"] == ids
    assert set(ids) <= set(cb.list_builds()["ids"])


@pytest.mark.parametrize("bad", ["version: 0.2\nphases: [oops", "version: 9.9\n"])
def test_a_broken_buildspec_fails_in_download_source(stack: Stack, bad: str) -> None:
    name = unique("yaml")
    create_project(stack, name)
    build = wait_build(stack, start_build(stack, name, buildspecOverride=bad))
    assert build["buildStatus"] == "FAILED"
    assert phases(build)["DOWNLOAD_SOURCE"] == "FAILED"
    context = next(p for p in build["phases"] if p["phaseType"] == "DOWNLOAD_SOURCE")["contexts"][0]
    assert context["statusCode"] == "YAML_FILE_ERROR"


def test_a_missing_source_object_fails_clearly(stack: Stack) -> None:
    name, bucket = unique("nosrc"), unique("nosrc")
    s3_project(stack, name, bucket, "absent.zip")
    build = wait_build(stack, start_build(stack, name))
    assert build["buildStatus"] == "FAILED"
    context = next(p for p in build["phases"] if p["phaseType"] == "DOWNLOAD_SOURCE")["contexts"][0]
    assert "absent.zip" in context["message"]


@pytest.mark.production_only
@pytest.mark.timeout(8 * 60)
def test_a_build_timeout_kills_the_whole_process_tree(stack: Stack) -> None:
    """CodeBuild's shortest timeout is 5 minutes (the model's minimum), so this test waits
    that long, once, on the production stack; the engine's own tests cover short timeouts."""
    name = unique("timeout")
    create_project(stack, name, timeoutInMinutes=5)
    shared = Path(tempfile.mkdtemp(prefix="stageline-timeout-"))
    shared.chmod(0o777)  # the build user writes its children's pids here
    marker = shared / "pids"
    # The shell's pid (it then becomes `sleep`) and its child's, both written by the command
    # that starts them: `$!` does not carry from one command to the next, as on CodeBuild.
    spec = buildspec(
        f"""
version: 0.2
phases:
  build:
    commands:
      - sh -c 'sleep 900 & echo $! >> {marker}; echo $$ >> {marker}; exec sleep 900' &
      - sleep 900
"""
    )
    build_id = start_build(stack, name, buildspecOverride=spec)
    stack.wait_for(
        "the children to start",
        lambda: marker.exists() and len(marker.read_text().split()) == 2,
        timeout=60,
    )
    build = wait_build(stack, build_id, timeout=5 * 60 + 90)
    assert build["buildStatus"] == "TIMED_OUT", build_log(stack, build_id)
    assert phases(build)["BUILD"] == "TIMED_OUT"
    pids = [int(p) for p in marker.read_text().split()]
    assert len(pids) == 2
    for pid in pids:
        assert not alive(pid), f"process {pid} outlived its build"


def test_stageline_logs_follows_a_build(stack: Stack) -> None:
    name = unique("follow")
    create_project(stack, name)
    spec = "version: 0.2\nphases:\n  build:\n    commands:\n      - echo first-line\n      - sleep 2\n      - echo last-line\n"
    build_id = start_build(stack, name, buildspecOverride=spec)
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
    }

    def logs(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "stageline.cli", "logs", *args]
        return subprocess.run(
            [*command, "--endpoint-url", stack.server.url],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    started = time.monotonic()
    done = logs("--build", build_id, "--follow")
    assert done.returncode == 0, done.stderr
    assert "first-line" in done.stdout and "last-line" in done.stdout
    assert time.monotonic() - started >= 1.5  # it waited for the build, not just printed
    assert get_build(stack, build_id)["buildComplete"]
    unknown = logs("--build", f"{name}:nope")
    assert unknown.returncode != 0 and "ResourceNotFoundException" in unknown.stderr


@pytest.mark.production_only
def test_a_build_whose_worker_dies_ends_fault_and_is_not_run_twice(stack: Stack) -> None:
    name = unique("lost")
    create_project(stack, name)
    spec = "version: 0.2\nphases:\n  build:\n    commands:\n      - echo running-$CODEBUILD_BUILD_NUMBER\n      - sleep 300\n"
    build_id = start_build(stack, name, buildspecOverride=spec)
    stack.wait_for("the build to run", lambda: "running-1" in build_log(stack, build_id))
    assert stack.database_url is not None
    with psycopg.connect(stack.database_url) as conn:
        row = conn.execute(
            "SELECT worker_id FROM builds WHERE build_id = %s", (build_id,)
        ).fetchone()
    assert row is not None and row[0]
    pid = int(str(row[0]).rsplit(":", 1)[1])
    index = next(i for i, w in enumerate(stack.workers) if w.pid == pid)
    stack.kill_worker(index)
    try:
        build = wait_build(stack, build_id, timeout=60)
        assert build["buildStatus"] == "FAULT"
        assert build_log(stack, build_id).count("running-1") == 1  # not run a second time
    finally:
        stack.start_worker()
