"""The contract between the job worker and the command it runs: pure functions, no I/O
beyond reading the files the command wrote.

Environment of the command (besides the worker's own environment, minus its AWS keys):

    STAGELINE_JOB_ID, STAGELINE_ACCOUNT_ID
    STAGELINE_PIPELINE_NAME, STAGELINE_PIPELINE_ARN, STAGELINE_PIPELINE_EXECUTION_ID
    STAGELINE_STAGE_NAME, STAGELINE_ACTION_NAME, STAGELINE_ACTION_EXECUTION_ID
    STAGELINE_CONFIG_<KEY>          one per action configuration key (see env_name)
    STAGELINE_CONFIGURATION_JSON    the whole configuration as a JSON object
    STAGELINE_INPUT_DIR             every input artifact extracted in <dir>/<artifact name>/
    STAGELINE_SOURCE_DIR            the first input artifact: the command's working directory
    STAGELINE_OUTPUT_DIR            write output artifact N's files into <dir>/<artifact name>/
    STAGELINE_OUTPUT_VARIABLES      a file: write NAME=VALUE lines to set output variables
    STAGELINE_CONTINUATION_TOKEN_FILE  a file: write a token to ask for another job
    STAGELINE_CONTINUATION_TOKEN    the token of the previous job, when this job continues one
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

PREFIX = "STAGELINE_"
CONFIG_PREFIX = "STAGELINE_CONFIG_"
# What boto3 reads for the worker's own identity: never handed to the command.
WORKER_SECRETS = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
)

# CodePipeline's limits (botocore's model and "Quotas in AWS CodePipeline").
MAX_MESSAGE = 5000  # FailureDetails.message
MAX_SUMMARY = 2048  # ExecutionDetails.summary
MAX_TOKEN = 2048  # PutJobSuccessResult.continuationToken
MAX_VARIABLES_CHARS = 122880  # all output variable names and values of one action
VARIABLE_NAME = re.compile(r"[A-Za-z0-9@\-_]+")
ARTIFACT_NAME = re.compile(r"[A-Za-z0-9_\-]{1,100}")
MASK = "***"


class ConventionError(ValueError):
    """The job or the command's files break a convention; the message is safe to show."""


def env_name(key: str) -> str:
    """STAGELINE_CONFIG_ + the key upper-cased, every character outside A-Z 0-9 _ as '_'."""
    return CONFIG_PREFIX + re.sub(r"[^A-Z0-9_]", "_", key.upper())


def config_environment(configuration: Mapping[str, Any]) -> dict[str, str]:
    """One variable per configuration key; two keys that sanitize alike are refused."""
    env: dict[str, str] = {}
    seen: dict[str, str] = {}
    for key in sorted(configuration):
        name = env_name(key)
        if name in seen:
            raise ConventionError(
                f"configuration keys {seen[name]!r} and {key!r} both map to {name}"
            )
        seen[name] = key
        env[name] = str(configuration[key])
    env[PREFIX + "CONFIGURATION_JSON"] = json.dumps(
        {k: str(v) for k, v in configuration.items()}, sort_keys=True
    )
    return env


def job_environment(job: Mapping[str, Any], paths: Mapping[str, Path]) -> dict[str, str]:
    """The STAGELINE_* variables of one job. `paths`: input_dir, source_dir, output_dir,
    variables_file, token_file."""
    data = job.get("data") or {}
    context = data.get("pipelineContext") or {}
    env = {
        "JOB_ID": str(job["id"]),
        "ACCOUNT_ID": str(job.get("accountId") or ""),
        "PIPELINE_NAME": str(context.get("pipelineName") or ""),
        "PIPELINE_ARN": str(context.get("pipelineArn") or ""),
        "PIPELINE_EXECUTION_ID": str(context.get("pipelineExecutionId") or ""),
        "STAGE_NAME": str((context.get("stage") or {}).get("name") or ""),
        "ACTION_NAME": str((context.get("action") or {}).get("name") or ""),
        "ACTION_EXECUTION_ID": str((context.get("action") or {}).get("actionExecutionId") or ""),
        "INPUT_DIR": str(paths["input_dir"]),
        "SOURCE_DIR": str(paths["source_dir"]),
        "OUTPUT_DIR": str(paths["output_dir"]),
        "OUTPUT_VARIABLES": str(paths["variables_file"]),
        "CONTINUATION_TOKEN_FILE": str(paths["token_file"]),
    }
    if data.get("continuationToken"):
        env["CONTINUATION_TOKEN"] = str(data["continuationToken"])
    result = {PREFIX + k: v for k, v in env.items()}
    configuration = (data.get("actionConfiguration") or {}).get("configuration") or {}
    result.update(config_environment(configuration))
    return result


def command_environment(base: Mapping[str, str], job_env: Mapping[str, str]) -> dict[str, str]:
    """The worker's environment without its AWS keys and stale STAGELINE_* values, plus the
    job's variables."""
    env = {k: v for k, v in base.items() if k not in WORKER_SECRETS and not k.startswith(PREFIX)}
    env.update(job_env)
    return env


def artifact_dir_name(name: str) -> str:
    """An artifact name is a directory name: refuse anything that is not AWS's pattern."""
    if not ARTIFACT_NAME.fullmatch(name):
        raise ConventionError(f"artifact name {name!r} is not [A-Za-z0-9_-]{{1,100}}")
    return name


def parse_variables(text: str) -> dict[str, str]:
    """NAME=VALUE lines; blank lines and '#' comments are skipped, a later NAME wins.

    Errors name the line, never its value (a value may be a secret)."""
    variables: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip("\r")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, sep, value = line.partition("=")
        name = name.strip()
        if not sep:
            raise ConventionError(f"output variables file, line {number}: expected NAME=VALUE")
        if not VARIABLE_NAME.fullmatch(name):
            raise ConventionError(
                f"output variables file, line {number}: the name {name[:64]!r} is not "
                "[A-Za-z0-9@_-]+"
            )
        variables[name] = value
    size = sum(len(k) + len(v) for k, v in variables.items())
    if size > MAX_VARIABLES_CHARS:
        raise ConventionError(
            f"output variables are {size} characters; CodePipeline allows {MAX_VARIABLES_CHARS}"
        )
    return variables


def read_variables(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    return parse_variables(path.read_text(encoding="utf-8", errors="replace"))


def read_token(path: Path) -> str | None:
    """The continuation token the command wrote (surrounding whitespace dropped), or None."""
    if not path.is_file():
        return None
    token = path.read_text(encoding="utf-8", errors="replace").strip()
    if not token:
        return None
    if len(token) > MAX_TOKEN:
        raise ConventionError(
            f"the continuation token is {len(token)} characters; CodePipeline allows {MAX_TOKEN}"
        )
    return token


def mask(text: str, secrets: Iterable[str]) -> str:
    """Every secret value replaced by ***, longest first (so one secret inside another goes)."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def failure_message(outcome: str, tail: Iterable[str]) -> str:
    """`outcome` and as many of the last output lines as fit in AWS's 5000 characters."""
    lines = list(tail)
    head = outcome if not lines else f"{outcome} Last lines of output:"
    body: list[str] = []
    room = MAX_MESSAGE - len(head)
    for line in reversed(lines):
        if len(line) + 1 > room:
            break
        body.insert(0, line)
        room -= len(line) + 1
    message = "\n".join([head, *body])
    return message[:MAX_MESSAGE]


def summary(text: str) -> str:
    return text[:MAX_SUMMARY] if text else "done"
