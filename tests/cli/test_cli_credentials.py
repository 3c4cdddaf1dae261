"""`stageline connections` and `stageline logs` as a user runs them (subprocesses against a
real server): when Stageline's own key file is not there, the keys come from botocore's chain
as the AWS CLI finds them (the default profile, --profile, AWS_PROFILE); an unknown profile or
an unreadable --ssh-key file is a one-line error exit, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.servers import ACCESS_KEY_ID, SECRET_ACCESS_KEY, Server

PROFILES = f"""[default]
aws_access_key_id = {ACCESS_KEY_ID}
aws_secret_access_key = {SECRET_ACCESS_KEY}

[stageline]
aws_access_key_id = {ACCESS_KEY_ID}
aws_secret_access_key = {SECRET_ACCESS_KEY}

[wrong]
aws_access_key_id = AKIANOTSTAGELINE0000
aws_secret_access_key = not-the-secret
"""


def run(server: Server, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "stageline.cli", *args, "--endpoint-url", server.url]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)


def user_env(tmp_path: Path, credentials: str | None, **extra: str) -> dict[str, str]:
    """No AWS_* or STAGELINE_* settings, an empty data dir (no key file), and `credentials`
    as the user's ~/.aws/credentials."""
    home = tmp_path / "home"
    (home / ".aws").mkdir(parents=True, exist_ok=True)
    if credentials is not None:
        (home / ".aws" / "credentials").write_text(credentials)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "STAGELINE_"))}
    env.update(HOME=str(home), STAGELINE_DATA_DIR=str(tmp_path / "empty-data"), **extra)
    return env


def test_keys_from_aws_cli_profiles(server: Server, tmp_path: Path) -> None:
    env = user_env(tmp_path, PROFILES)
    for args, extra in [
        (("connections", "list"), {}),  # the default profile
        (("connections", "list", "--profile", "stageline"), {}),
        (("connections", "list"), {"AWS_PROFILE": "stageline"}),
        (("logs", "no-such-pipeline", "--profile", "stageline"), {}),
        (("logs", "no-such-pipeline"), {"AWS_PROFILE": "stageline"}),
    ]:
        done = run(server, {**env, **extra}, *args)
        if args[0] == "logs":  # signed in: the server looked for the pipeline
            assert done.returncode != 0 and "PipelineNotFoundException" in done.stderr, done
        else:
            assert done.returncode == 0, done.stderr
        assert "Traceback" not in done.stderr
    refused = run(server, env, "connections", "list", "--profile", "wrong")
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    assert "PipelineNotFound" not in refused.stderr and refused.stderr.strip()
    unknown = run(server, env, "connections", "list", "--profile", "nope")
    assert unknown.returncode != 0 and "Traceback" not in unknown.stderr
    assert "cannot read AWS credentials" in unknown.stderr and "nope" in unknown.stderr


def test_no_credentials_anywhere_is_a_clear_exit(server: Server, tmp_path: Path) -> None:
    done = run(server, user_env(tmp_path, None), "connections", "list")
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "no credentials" in done.stderr and "--profile" in done.stderr


def test_unreadable_ssh_key_file(server: Server, tmp_path: Path) -> None:
    env = user_env(tmp_path, PROFILES)
    arn = "arn:aws:codeconnections:us-east-1:000000000000:connection/" + "0" * 36
    missing = tmp_path / "nonexistent"
    done = run(server, env, "connections", "complete", arn, "--ssh-key", str(missing))
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert f"cannot read {missing}: No such file or directory" in done.stderr
    directory = run(server, env, "connections", "complete", arn, "--ssh-key", str(tmp_path))
    assert directory.returncode != 0 and "Traceback" not in directory.stderr
    assert "cannot read" in directory.stderr
