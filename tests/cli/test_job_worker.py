"""`stageline job-worker`'s parts on their own: the conventions between the worker and its
command (environment names, the output-variables and continuation-token files, masking,
failure messages), running the command, the argument parsing, and its artifacts against a
real S3-compatible server (moto). The worker in a real pipeline is
tests/executions/test_job_worker_e2e.py."""

from __future__ import annotations

import argparse
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from tests.support.moto_server import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, moto_s3_server
from tests.support.servers import free_port

from stageline.job_worker import command
from stageline.job_worker.artifacts import (
    ArtifactError,
    Workspace,
    download_inputs,
    prepare_outputs,
    s3_client,
    upload_outputs,
)
from stageline.job_worker.cli import add_parser, options_from
from stageline.job_worker.conventions import (
    MAX_MESSAGE,
    MAX_VARIABLES_CHARS,
    ConventionError,
    artifact_dir_name,
    command_environment,
    config_environment,
    env_name,
    failure_message,
    job_environment,
    mask,
    parse_variables,
    read_token,
    read_variables,
)

# --- environment ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "name"),
    [
        ("ProjectName", "STAGELINE_CONFIG_PROJECTNAME"),
        ("project-name", "STAGELINE_CONFIG_PROJECT_NAME"),
        ("Deploy Target.v2", "STAGELINE_CONFIG_DEPLOY_TARGET_V2"),
        ("a_b", "STAGELINE_CONFIG_A_B"),
        ("ünï", "STAGELINE_CONFIG__N_"),
    ],
)
def test_configuration_keys_become_sanitized_variable_names(key: str, name: str) -> None:
    assert env_name(key) == name


def test_configuration_environment_holds_each_key_and_the_json() -> None:
    env = config_environment({"Url": "https://x", "Retries": 3})
    assert env["STAGELINE_CONFIG_URL"] == "https://x"
    assert env["STAGELINE_CONFIG_RETRIES"] == "3"
    assert json.loads(env["STAGELINE_CONFIGURATION_JSON"]) == {"Retries": "3", "Url": "https://x"}


def test_two_keys_with_one_variable_name_are_refused() -> None:
    with pytest.raises(ConventionError, match="both map to STAGELINE_CONFIG_MY_KEY"):
        config_environment({"my-key": "a", "my_key": "b"})


JOB: dict[str, Any] = {
    "id": "11111111-2222-3333-4444-555555555555",
    "accountId": "000000000000",
    "nonce": "n",
    "data": {
        "actionTypeId": {"category": "Build", "owner": "Custom", "provider": "P", "version": "1"},
        "actionConfiguration": {"configuration": {"ProjectName": "demo", "ApiToken": "s3cr3t"}},
        "pipelineContext": {
            "pipelineName": "pipe",
            "stage": {"name": "Build"},
            "action": {"name": "Custom", "actionExecutionId": "ae-1"},
            "pipelineArn": "arn:aws:codepipeline:us-east-1:000000000000:pipe",
            "pipelineExecutionId": "ex-1",
        },
        "inputArtifacts": [],
        "outputArtifacts": [],
    },
}
PATHS = {
    "input_dir": Path("/w/input"),
    "source_dir": Path("/w/input/Src"),
    "output_dir": Path("/w/output"),
    "variables_file": Path("/w/meta/vars"),
    "token_file": Path("/w/meta/token"),
}


def test_job_environment_names_the_job_its_place_and_the_files() -> None:
    env = job_environment(JOB, PATHS)
    assert env["STAGELINE_JOB_ID"] == JOB["id"]
    assert env["STAGELINE_PIPELINE_NAME"] == "pipe"
    assert env["STAGELINE_STAGE_NAME"] == "Build"
    assert env["STAGELINE_ACTION_NAME"] == "Custom"
    assert env["STAGELINE_ACTION_EXECUTION_ID"] == "ae-1"
    assert env["STAGELINE_PIPELINE_EXECUTION_ID"] == "ex-1"
    assert env["STAGELINE_OUTPUT_DIR"] == "/w/output"
    assert env["STAGELINE_OUTPUT_VARIABLES"] == "/w/meta/vars"
    assert env["STAGELINE_CONTINUATION_TOKEN_FILE"] == "/w/meta/token"
    assert env["STAGELINE_CONFIG_PROJECTNAME"] == "demo"
    assert "STAGELINE_CONTINUATION_TOKEN" not in env
    continued = {**JOB, "data": {**JOB["data"], "continuationToken": "step-2"}}
    assert job_environment(continued, PATHS)["STAGELINE_CONTINUATION_TOKEN"] == "step-2"


def test_the_command_does_not_inherit_the_workers_aws_keys() -> None:
    base = {
        "PATH": "/bin",
        "AWS_ACCESS_KEY_ID": "AKIA",
        "AWS_SECRET_ACCESS_KEY": "secret",
        "AWS_SESSION_TOKEN": "token",
        "AWS_DEFAULT_REGION": "us-east-1",
        "STAGELINE_JOB_ID": "stale",
    }
    env = command_environment(base, {"STAGELINE_JOB_ID": "new"})
    assert env == {"PATH": "/bin", "AWS_DEFAULT_REGION": "us-east-1", "STAGELINE_JOB_ID": "new"}


@pytest.mark.parametrize("name", ["", "../x", "a/b", "a b", "x" * 101])
def test_unsafe_artifact_names_are_refused(name: str) -> None:
    with pytest.raises(ConventionError):
        artifact_dir_name(name)


# --- the command's files ----------------------------------------------------------------------


def test_output_variables_are_name_value_lines() -> None:
    text = "# built by ci\nVERSION=1.2.3\r\n\nURL=https://x/?a=b\n  \nVERSION=1.2.4\nEMPTY=\n"
    assert parse_variables(text) == {"VERSION": "1.2.4", "URL": "https://x/?a=b", "EMPTY": ""}


def test_a_bad_variable_line_is_named_without_its_value() -> None:
    with pytest.raises(ConventionError, match="line 2: expected NAME=VALUE") as missing:
        parse_variables("A=1\nhunter2\n")
    assert "hunter2" not in str(missing.value)
    with pytest.raises(ConventionError, match="line 1: the name 'BAD NAME'") as bad:
        parse_variables("BAD NAME=hunter2\n")
    assert "hunter2" not in str(bad.value)


def test_output_variables_over_codepipelines_limit_are_refused() -> None:
    with pytest.raises(ConventionError, match=str(MAX_VARIABLES_CHARS)):
        parse_variables("BIG=" + "x" * MAX_VARIABLES_CHARS)


def test_variable_and_token_files(tmp_path: Path) -> None:
    assert read_variables(tmp_path / "missing") == {}
    assert read_token(tmp_path / "missing") is None
    (tmp_path / "vars").write_text("A=1\n")
    assert read_variables(tmp_path / "vars") == {"A": "1"}
    token = tmp_path / "token"
    token.write_text("")
    assert read_token(token) is None
    token.write_text("  deployment-42\n")
    assert read_token(token) == "deployment-42"
    token.write_text("t" * 2049)
    with pytest.raises(ConventionError, match="2048"):
        read_token(token)


def test_secrets_are_masked_longest_first() -> None:
    assert mask("token abc and abcdef", ["abc", "abcdef", ""]) == "token *** and ***"


def test_a_failure_message_keeps_the_last_lines_within_awss_limit() -> None:
    lines = [f"line {i} " + "x" * 90 for i in range(200)]
    message = failure_message("The command exited with status 3.", lines)
    assert len(message) <= MAX_MESSAGE
    assert message.startswith("The command exited with status 3. Last lines of output:\n")
    assert message.endswith(lines[-1])
    assert lines[0] not in message
    assert failure_message("Stopped.", []) == "Stopped."


# --- arguments --------------------------------------------------------------------------------


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="stageline")
    add_parser(parser.add_subparsers(dest="command_name"))
    return parser.parse_args(list(argv))


def test_arguments_become_options() -> None:
    args = parse(
        "job-worker",
        "--category",
        "Build",
        "--provider",
        "Tool",
        "--version",
        "2",
        "--query",
        "Project=web",
        "--poll-interval",
        "0.5",
        "--once",
        "--",
        "sh",
        "-c",
        "echo --once",
    )
    options = options_from(args)
    assert options.command == ["sh", "-c", "echo --once"]
    assert options.type_id == {
        "category": "Build",
        "owner": "Custom",
        "provider": "Tool",
        "version": "2",
    }
    assert options.query == {"Project": "web"}
    assert options.once and options.poll_interval == 0.5


def test_the_program_is_resolved_where_the_worker_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = ["job-worker", "--category", "Build", "--provider", "T", "--version", "1", "--"]
    script = tmp_path / "build.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o755)
    monkeypatch.chdir(tmp_path)
    assert options_from(parse(*base, "./build.sh", "x")).command == [str(script), "x"]
    assert options_from(parse(*base, "sh", "-c", "true")).command[0] == "sh"
    with pytest.raises(SystemExit, match="not an executable file"):
        options_from(parse(*base, "./missing.sh"))
    with pytest.raises(SystemExit, match="command not found"):
        options_from(parse(*base, "no-such-program-4711"))


def test_a_command_is_required_and_query_must_be_key_value(
    capsys: pytest.CaptureFixture[str],
) -> None:
    base = ["job-worker", "--category", "Build", "--provider", "T", "--version", "1"]
    with pytest.raises(SystemExit, match="give the command"):
        options_from(parse(*base, "--"))
    with pytest.raises(SystemExit):
        parse(*base, "--query", "novalue", "--", "true")
    assert "expected KEY=VALUE" in capsys.readouterr().err


# --- running the command ----------------------------------------------------------------------


def run(argv: list[str], tmp_path: Path, **kwargs: Any) -> tuple[command.Outcome, str]:
    out = io.StringIO()
    outcome = command.run(
        argv,
        cwd=tmp_path,
        env={"PATH": os.environ["PATH"]},
        prefix="[job 1234]",
        should_stop=kwargs.pop("should_stop", lambda t: time.sleep(t) or False),
        out=out,
        **kwargs,
    )
    return outcome, out.getvalue()


def test_output_is_streamed_with_the_job_prefix_and_masked(tmp_path: Path) -> None:
    outcome, printed = run(
        ["sh", "-c", "echo one; echo the key is s3cr3t >&2; pwd; exit 3"],
        tmp_path,
        masker=lambda line: line.replace("s3cr3t", "***"),
    )
    assert printed.splitlines() == [
        "[job 1234] one",
        "[job 1234] the key is ***",
        f"[job 1234] {tmp_path}",
    ]
    assert outcome.returncode == 3 and not outcome.succeeded
    assert outcome.tail[-2:] == ["the key is ***", str(tmp_path)]
    assert outcome.describe() == "The command exited with status 3."


def test_a_command_killed_by_a_signal_says_which(tmp_path: Path) -> None:
    outcome, _ = run(["sh", "-c", "kill -KILL $$"], tmp_path)
    assert outcome.describe() == "The command was killed by SIGKILL."


def test_a_missing_program_fails_like_a_shell(tmp_path: Path) -> None:
    outcome, printed = run(["/nonexistent/program"], tmp_path)
    assert outcome.returncode == 127
    assert "cannot start '/nonexistent/program'" in printed


def test_a_stop_terminates_the_whole_process_group(tmp_path: Path) -> None:
    marker = tmp_path / "child.pid"
    stop = threading.Event()
    threading.Timer(0.5, stop.set).start()
    started = time.monotonic()
    outcome, _ = run(
        ["sh", "-c", f"sleep 60 & echo $! > {marker}; wait"],
        tmp_path,
        should_stop=stop.wait,
        grace=2,
    )
    assert outcome.stopped and not outcome.succeeded
    assert time.monotonic() - started < 10
    child = int(marker.read_text())
    deadline = time.monotonic() + 5
    while running(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not running(child)


def running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's reaper may be slow, or absent in a container)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")


# --- artifacts, against a real S3-compatible server -------------------------------------------


@pytest.fixture(scope="module")
def s3_url() -> Iterator[str]:
    with moto_s3_server() as url:
        yield url


def zip_of(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def job_s3(s3_url: str) -> Any:
    credentials = {"accessKeyId": ACCESS_KEY_ID, "secretAccessKey": SECRET_ACCESS_KEY}
    return s3_client(boto3.session.Session(), {**credentials, "sessionToken": "t"}, REGION, s3_url)


def located(name: str, bucket: str, key: str) -> dict[str, Any]:
    return {
        "name": name,
        "location": {"type": "S3", "s3Location": {"bucketName": bucket, "objectKey": key}},
    }


def test_inputs_are_extracted_and_outputs_zipped_and_uploaded(s3_url: str, tmp_path: Path) -> None:
    s3 = job_s3(s3_url)
    s3.create_bucket(Bucket="artifacts-a")
    s3.put_object(Bucket="artifacts-a", Key="p/Src/1", Body=zip_of({"app.txt": "hello\n"}))
    s3.put_object(Bucket="artifacts-a", Key="p/Lib/2", Body=zip_of({"lib/x.py": "pass\n"}))
    workspace = Workspace.create(tmp_path, "job-1")
    try:
        inputs = [
            located("Src", "artifacts-a", "p/Src/1"),
            located("Lib", "artifacts-a", "p/Lib/2"),
        ]
        outputs = [
            located("Built", "artifacts-a", "p/Built/3"),
            located("Empty", "artifacts-a", "p/E/4"),
        ]
        source = download_inputs(s3, inputs, workspace)
        assert source == workspace.input_dir / "Src"
        assert (source / "app.txt").read_text() == "hello\n"
        assert (workspace.input_dir / "Lib" / "lib" / "x.py").read_text() == "pass\n"
        prepare_outputs(outputs, workspace)
        (workspace.output_dir / "Built" / "dist").mkdir()
        (workspace.output_dir / "Built" / "dist" / "app.txt").write_text("built\n")
        (workspace.output_dir / "Built" / ".hidden").write_text("h\n")
        assert upload_outputs(s3, outputs, workspace) == ["Built: 2 file(s)", "Empty: 0 file(s)"]
    finally:
        workspace.remove()
    assert not workspace.root.exists()
    body = s3.get_object(Bucket="artifacts-a", Key="p/Built/3")["Body"].read()
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        assert sorted(archive.namelist()) == [".hidden", "dist/app.txt"]
    empty = s3.get_object(Bucket="artifacts-a", Key="p/E/4")["Body"].read()
    with zipfile.ZipFile(io.BytesIO(empty)) as archive:
        assert archive.namelist() == []


def test_outputs_honour_a_kms_encryption_key(s3_url: str, tmp_path: Path) -> None:
    s3 = job_s3(s3_url)
    s3.create_bucket(Bucket="artifacts-k")
    workspace = Workspace.create(tmp_path, "job-k")
    outputs = [located("Out", "artifacts-k", "p/Out/1")]
    prepare_outputs(outputs, workspace)
    (workspace.output_dir / "Out" / "a.txt").write_text("a")
    key = {"id": "arn:aws:kms:us-east-1:000000000000:key/abc", "type": "KMS"}
    upload_outputs(s3, outputs, workspace, key)
    head = s3.head_object(Bucket="artifacts-k", Key="p/Out/1")
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head["SSEKMSKeyId"].endswith("key/abc")


def test_an_action_without_inputs_works_in_the_input_root(s3_url: str, tmp_path: Path) -> None:
    workspace = Workspace.create(tmp_path, "job-2")
    assert download_inputs(job_s3(s3_url), [], workspace) == workspace.input_dir


def test_an_unsafe_input_zip_is_refused(s3_url: str, tmp_path: Path) -> None:
    s3 = job_s3(s3_url)
    s3.create_bucket(Bucket="artifacts-b")
    s3.put_object(Bucket="artifacts-b", Key="evil", Body=zip_of({"../../escape.txt": "x"}))
    workspace = Workspace.create(tmp_path, "job-3")
    with pytest.raises(ArtifactError, match=r"input artifact Src was refused: .*'\.\.'"):
        download_inputs(s3, [located("Src", "artifacts-b", "evil")], workspace)
    assert not (tmp_path / "escape.txt").exists()
    assert not any(tmp_path.rglob("escape.txt"))


def test_a_missing_input_names_the_object_and_the_endpoint(s3_url: str, tmp_path: Path) -> None:
    s3 = job_s3(s3_url)
    s3.create_bucket(Bucket="artifacts-c")
    workspace = Workspace.create(tmp_path, "job-4")
    with pytest.raises(ArtifactError) as error:
        download_inputs(s3, [located("Src", "artifacts-c", "gone")], workspace)
    assert "s3://artifacts-c/gone" in str(error.value)
    assert "NoSuchKey" in str(error.value) and s3_url in str(error.value)


def test_a_job_without_credentials_is_refused() -> None:
    with pytest.raises(ArtifactError, match="no artifactCredentials"):
        s3_client(boto3.session.Session(), {}, REGION, None)


# --- the process ------------------------------------------------------------------------------


def worker_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STAGELINE_", "AWS_"))}
    env.update(AWS_ACCESS_KEY_ID="AKIAEXAMPLE", AWS_SECRET_ACCESS_KEY="example-secret")
    env.update(extra)
    return env


ARGS = ["job-worker", "--category", "Build", "--provider", "T", "--version", "1"]
FAST = ["--poll-interval", "0.2", "--max-poll-interval", "0.5"]


def test_an_unreachable_endpoint_is_retried_and_sigterm_stops_cleanly() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    process = subprocess.Popen(
        [sys.executable, "-m", "stageline.cli", *ARGS, "--endpoint-url", url, *FAST, "--", "true"],
        env=worker_env(AWS_DEFAULT_REGION="us-east-1"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    seen = []
    for line in process.stdout:
        seen.append(line)
        if "cannot reach CodePipeline" in line:
            break
    process.send_signal(signal.SIGTERM)
    rest, _ = process.communicate(timeout=30)
    output = "".join(seen) + rest
    assert process.returncode == 0, output
    assert f"cannot reach CodePipeline at {url}" in output
    assert "stopped (SIGTERM)" in output
    assert "example-secret" not in output


def test_without_a_region_the_worker_says_so() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "stageline.cli", *ARGS, "--", "true"],
        env=worker_env(AWS_CONFIG_FILE="/nonexistent"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "no AWS region" in result.stderr
