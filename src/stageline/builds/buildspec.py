"""buildspec.yml (versions 0.2 and 0.1) into a BuildSpec, following AWS's "Build specification
reference for CodeBuild".

Scalars are kept as written: CodeBuild's Go parser decodes them into strings, so `1.10` stays
"1.10", `010` stays "010" and `yes` stays "yes" (PyYAML's implicit types would give 1.1, 8 and
True). A single string where a list is expected is a one-item list, as CodeBuild accepts.
Unknown top-level keys are ignored, as CodeBuild's decoder ignores them, with a note for the log;
unknown phase names and unknown keys inside a phase are errors, as in CodeBuild
("Invalid buildspec phase name", "unsupported field").
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from stageline.builds.model import (
    BUILDSPEC_PHASES,
    ArtifactSpec,
    BuildSpec,
    BuildspecError,
    Phase,
    ReportSpec,
)

VERSIONS = ("0.1", "0.2")
TOP_LEVEL_KEYS = frozenset(
    {"version", "run-as", "env", "proxy", "batch", "phases", "reports", "artifacts", "cache"}
)
PHASE_KEYS = frozenset({"run-as", "on-failure", "runtime-versions", "commands", "finally"})
LINUX_SHELLS = ("bash", "/bin/sh")
WINDOWS_SHELLS = ("powershell.exe", "cmd.exe")
REPORT_FORMATS = frozenset(
    {
        "CUCUMBERJSON",
        "JUNITXML",
        "NUNITXML",
        "NUNIT3XML",
        "TESTNGXML",
        "VISUALSTUDIOTRX",
        "CLOVERXML",
        "COBERTURAXML",
        "JACOCOXML",
        "SIMPLECOV",
    }
)
# Without on-failure a phase follows "Build phase transitions": a failed INSTALL, PRE_BUILD or
# POST_BUILD ends the build, a failed BUILD still runs POST_BUILD. That is ABORT for the first
# ones and CONTINUE ("continue to the next phase") for BUILD, so the parser writes it that way.
DEFAULT_ON_FAILURE = {"install": "ABORT", "pre_build": "ABORT", "build": "CONTINUE"}
ON_FAILURE = re.compile(r"^(ABORT|CONTINUE|RETRY)(?:-(.*))?$", re.S)
RETRY_COUNT = re.compile(r"^(\d+)(?:-(.*))?$", re.S)
MAX_RETRIES = 100
DEFAULT_RETRIES = 3
_YES = frozenset({"yes", "true", "on", "y"})
_NO = frozenset({"no", "false", "off", "n"})


class _Loader(yaml.SafeLoader):
    """SafeLoader that resolves only null and merge keys: every other scalar stays a string."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag.endswith((":null", ":merge"))]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def parse_buildspec(text: str) -> BuildSpec:
    """The buildspec as the runner sees it; BuildspecError names the key (and the line)."""
    doc = _load(text)
    version = _version(doc)
    if "batch" in doc:
        raise BuildspecError(
            "batch: batch builds are not supported by Stageline; "
            "remove the batch section to run this buildspec as a single build"
        )
    known = TOP_LEVEL_KEYS | ({"environment_variables"} if version == "0.1" else set())
    notes = [f"Unknown top-level key '{key}' ignored" for key in doc if key not in known]
    if "proxy" in doc:
        _proxy(doc["proxy"])
        notes.append("proxy settings accepted and ignored: builds use the worker's network")
    if "phases" not in doc:
        raise BuildspecError("Missing required key: phases")
    artifacts, secondary = _artifacts(doc.get("artifacts"))
    return BuildSpec(
        version=version,
        run_as=_optional_string(doc.get("run-as"), "run-as"),
        phases=_phases(doc["phases"]),
        artifacts=artifacts,
        secondary_artifacts=secondary,
        cache_paths=_cache(doc.get("cache")),
        reports=_reports(doc.get("reports")),
        notes=tuple(notes),
        **_env(doc, version),
    )


def retry_policy(on_failure: str) -> tuple[int, re.Pattern[str]] | None:
    """(retries, pattern) for RETRY, RETRY-<count>, RETRY-<regex>, RETRY-<count>-<regex>;
    None for ABORT and CONTINUE. Raises ValueError for anything else."""
    match = ON_FAILURE.match(on_failure)
    if match is None:
        raise ValueError(on_failure)
    action, rest = match.groups()
    if action != "RETRY":
        if rest is not None:
            raise ValueError(on_failure)
        return None
    count, pattern = DEFAULT_RETRIES, ".*"
    if rest is not None:
        counted = RETRY_COUNT.match(rest)
        if counted:
            count, pattern = int(counted.group(1)), counted.group(2) or ".*"
        else:
            pattern = rest
    if not 0 <= count <= MAX_RETRIES:
        raise ValueError(f"the retry count must be between 0 and {MAX_RETRIES}")
    try:
        return count, re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from None


def _load(text: str) -> dict[str, Any]:
    try:
        doc = yaml.load(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise BuildspecError(f"Invalid YAML{where}: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise BuildspecError(f"Invalid YAML: {exc}") from None
    if doc is None:
        raise BuildspecError("The buildspec is empty: it needs at least version and phases")
    return _mapping(doc, "the buildspec")


def _version(doc: dict[str, Any]) -> str:
    if "version" not in doc:
        raise BuildspecError("Missing required key: version (use version: 0.2)")
    version = _string(doc["version"], "version")
    if version not in VERSIONS:
        raise BuildspecError(f"version: unknown buildspec version {version}: expecting 0.2 or 0.1")
    return version


def _env(doc: dict[str, Any], version: str) -> dict[str, Any]:
    env = _mapping(doc.get("env"), "env")
    variables = _variables(env.get("variables"), "env/variables")
    if version == "0.1" and "environment_variables" in doc:  # 0.2 renamed it to env/variables
        legacy = _mapping(doc["environment_variables"], "environment_variables")
        plaintext = _variables(legacy.get("plaintext"), "environment_variables/plaintext")
        variables = {**plaintext, **variables}
    return {
        "shell": _shell(env.get("shell")),
        "variables": variables,
        "parameter_store": _references(env.get("parameter-store"), "env/parameter-store"),
        "secrets_manager": _references(env.get("secrets-manager"), "env/secrets-manager"),
        "exported_variables": _strings(env.get("exported-variables"), "env/exported-variables"),
        "git_credential_helper": _flag(
            env.get("git-credential-helper"), "env/git-credential-helper"
        ),
    }


def _shell(value: Any) -> str | None:
    shell = _optional_string(value, "env/shell")
    if shell is None or shell in LINUX_SHELLS:
        return shell
    if shell in WINDOWS_SHELLS:
        raise BuildspecError(f"env/shell: {shell} is a Windows shell; builds run on Linux")
    raise BuildspecError(f"env/shell: unsupported shell {shell!r}: expecting bash or /bin/sh")


def _variables(value: Any, key: str) -> dict[str, str]:
    variables: dict[str, str] = {}
    for name, raw in _mapping(value, key).items():
        _check_name(name, key)
        variables[name] = "" if raw is None else _string(raw, f"{key}/{name}")
    return variables


def _references(value: Any, key: str) -> dict[str, str]:
    references: dict[str, str] = {}
    for name, raw in _mapping(value, key).items():
        _check_name(name, key)
        if raw is None or not _string(raw, f"{key}/{name}"):
            raise BuildspecError(f"{key}/{name}: missing the name of the value to retrieve")
        references[name] = raw
    return references


def _check_name(name: str, key: str) -> None:
    if not name or "=" in name or "\0" in name:
        raise BuildspecError(f"{key}: invalid environment variable name {name!r}")


def _proxy(value: Any) -> None:
    proxy = _mapping(value, "proxy")
    for name in ("upload-artifacts", "logs"):
        _flag(proxy.get(name), f"proxy/{name}")


def _phases(value: Any) -> tuple[Phase, ...]:
    table = _mapping(value, "phases")
    types = dict(BUILDSPEC_PHASES)
    for name in table:
        if name not in types:
            raise BuildspecError(
                f"Invalid buildspec phase name: {name}. "
                "Expecting: build,install,post_build,pre_build"
            )
    return tuple(_phase(name, types[name], table[name]) for name in types if name in table)


def _phase(name: str, phase_type: str, value: Any) -> Phase:
    key = f"phases/{name}"
    body = _mapping(value, key)
    for field in body:
        if field not in PHASE_KEYS or (field == "runtime-versions" and name != "install"):
            raise BuildspecError(f"{key}: unsupported field '{field}' in buildspec")
    on_failure = _optional_string(body.get("on-failure"), f"{key}/on-failure")
    if on_failure is not None:
        try:
            retry_policy(on_failure)
        except ValueError as exc:
            raise BuildspecError(
                f"{key}/on-failure: {on_failure!r} is not ABORT, CONTINUE, RETRY, "
                f"RETRY-<count>, RETRY-<regex> or RETRY-<count>-<regex> ({exc})"
            ) from None
    runtimes = _mapping(body.get("runtime-versions"), f"{key}/runtime-versions")
    return Phase(
        name=name,
        phase_type=phase_type,
        commands=_strings(body.get("commands"), f"{key}/commands"),
        finally_commands=_strings(body.get("finally"), f"{key}/finally"),
        on_failure=on_failure or DEFAULT_ON_FAILURE.get(name, "ABORT"),
        run_as=_optional_string(body.get("run-as"), f"{key}/run-as"),
        runtime_versions={
            runtime: _string(version, f"{key}/runtime-versions/{runtime}")
            for runtime, version in runtimes.items()
        },
    )


def _artifacts(value: Any) -> tuple[ArtifactSpec | None, dict[str, ArtifactSpec]]:
    if value is None:
        return None, {}
    table = _mapping(value, "artifacts")
    # AWS: "The artifacts/files sequence is always required, even when there are only
    # secondary artifacts defined."
    primary = _artifact(table, "artifacts")
    key = "artifacts/secondary-artifacts"
    secondary = {
        ident: _artifact(_mapping(body, f"{key}/{ident}"), f"{key}/{ident}")
        for ident, body in _mapping(table.get("secondary-artifacts"), key).items()
    }
    return primary, secondary


def _artifact(table: dict[str, Any], key: str) -> ArtifactSpec:
    return ArtifactSpec(
        files=_required_strings(table, "files", key),
        name=_optional_string(table.get("name"), f"{key}/name"),
        base_directory=_optional_string(table.get("base-directory"), f"{key}/base-directory"),
        discard_paths=_flag(table.get("discard-paths"), f"{key}/discard-paths"),
        exclude_paths=_strings(table.get("exclude-paths"), f"{key}/exclude-paths"),
        enable_symlinks=_flag(table.get("enable-symlinks"), f"{key}/enable-symlinks"),
        s3_prefix=_optional_string(table.get("s3-prefix"), f"{key}/s3-prefix"),
    )


def _reports(value: Any) -> tuple[ReportSpec, ...]:
    reports = []
    for group, body in _mapping(value, "reports").items():
        key = f"reports/{group}"
        table = _mapping(body, key)
        file_format = _optional_string(table.get("file-format"), f"{key}/file-format") or ""
        file_format = file_format.upper() or "JUNITXML"  # "This value is not case sensitive"
        if file_format not in REPORT_FORMATS:
            raise BuildspecError(
                f"{key}/file-format: unknown report format {file_format}: expecting one of "
                + ", ".join(sorted(REPORT_FORMATS))
            )
        reports.append(
            ReportSpec(
                group=group,
                files=_required_strings(table, "files", key),
                base_directory=_optional_string(
                    table.get("base-directory"), f"{key}/base-directory"
                ),
                discard_paths=_flag(table.get("discard-paths"), f"{key}/discard-paths"),
                file_format=file_format,
            )
        )
    return tuple(reports)


def _cache(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    return _required_strings(_mapping(value, "cache"), "paths", "cache")


def _mapping(value: Any, key: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BuildspecError(f"Expected {key} to be a mapping: found {_kind(value)} instead")
    return {str(name): item for name, item in value.items()}


def _string(value: Any, key: str) -> str:
    if not isinstance(value, str):
        raise BuildspecError(f"Expected {key} to be of string type: found {_kind(value)} instead")
    return value


def _optional_string(value: Any, key: str) -> str | None:
    return None if value is None else _string(value, key)


def _strings(value: Any, key: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list):
        raise BuildspecError(f"Expected {key} to be a sequence: found {_kind(value)} instead")
    return tuple(_string(item, f"{key}[{index}]") for index, item in enumerate(value))


def _required_strings(table: dict[str, Any], name: str, key: str) -> tuple[str, ...]:
    values = _strings(table.get(name), f"{key}/{name}")
    if not values:
        raise BuildspecError(f"Missing required key: {key}/{name}")
    return values


def _flag(value: Any, key: str) -> bool:
    if value is None:
        return False
    text = _string(value, key).lower()
    if text in _YES or text in _NO:
        return text in _YES
    raise BuildspecError(f"{key}: expecting yes or no, not {value!r}")


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "subkeys"
    if isinstance(value, list):
        return "a sequence"
    if value is None:
        return "an empty value"
    return "a string"
