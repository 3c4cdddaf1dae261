"""parse_buildspec: every key of AWS's buildspec reference, CodeBuild's scalars, and errors that
name the key (and the line)."""

from __future__ import annotations

import pytest

from stageline.builds.buildspec import parse_buildspec, retry_policy
from stageline.builds.model import ArtifactSpec, BuildspecError, Phase, ReportSpec

# The example of AWS's "Build specification reference for CodeBuild", plus the keys it leaves out.
FULL = """
version: 0.2
run-as: builder
env:
  shell: bash
  variables:
    JAVA_HOME: "/usr/lib/jvm/java-8-openjdk-amd64"
  parameter-store:
    LOGIN_PASSWORD: /CodeBuild/dockerLoginPassword
  secrets-manager:
    TOKEN: prod/token:api-key:AWSCURRENT
  exported-variables:
    - IMAGE_TAG
  git-credential-helper: yes
phases:
  install:
    run-as: installer
    on-failure: CONTINUE
    runtime-versions:
      java: corretto8
      python: 3.10
    commands:
      - echo Entered the install phase...
      - apt-get update -y
    finally:
      - echo This always runs
  pre_build:
    commands:
      - echo Entered the pre_build phase...
  build:
    on-failure: ABORT
    commands:
      - echo Build started on `date`
      - mvn install
  post_build:
    commands:
      - echo Build completed on `date`
reports:
  arn:aws:codebuild:us-east-1:123456789012:report-group/report-group-name-1:
    files:
      - "**/*"
    base-directory: 'target/tests/reports'
    discard-paths: no
  reportGroupCucumberJson:
    files:
      - 'cucumber/target/cucumber-tests.xml'
    discard-paths: yes
    file-format: cucumberjson
artifacts:
  files:
    - target/messageUtil-1.0.jar
  name: myname-$(date +%Y-%m-%d)
  discard-paths: yes
  base-directory: out
  exclude-paths: ["**/*.tmp"]
  enable-symlinks: yes
  s3-prefix: builds
  secondary-artifacts:
    artifact1:
      files:
        - target/artifact-1.0.jar
      discard-paths: yes
cache:
  paths:
    - '/root/.m2/**/*'
"""


def test_the_full_reference_example() -> None:
    spec = parse_buildspec(FULL)
    assert spec.version == "0.2"
    assert spec.run_as == "builder"
    assert spec.shell == "bash"
    assert spec.variables == {"JAVA_HOME": "/usr/lib/jvm/java-8-openjdk-amd64"}
    assert spec.parameter_store == {"LOGIN_PASSWORD": "/CodeBuild/dockerLoginPassword"}
    assert spec.secrets_manager == {"TOKEN": "prod/token:api-key:AWSCURRENT"}
    assert spec.exported_variables == ("IMAGE_TAG",)
    assert spec.git_credential_helper is True
    assert [p.phase_type for p in spec.phases] == ["INSTALL", "PRE_BUILD", "BUILD", "POST_BUILD"]
    assert spec.phases[0] == Phase(
        name="install",
        phase_type="INSTALL",
        commands=("echo Entered the install phase...", "apt-get update -y"),
        finally_commands=("echo This always runs",),
        on_failure="CONTINUE",
        run_as="installer",
        runtime_versions={"java": "corretto8", "python": "3.10"},
    )
    assert spec.phases[2].commands == ("echo Build started on `date`", "mvn install")
    assert spec.artifacts == ArtifactSpec(
        files=("target/messageUtil-1.0.jar",),
        base_directory="out",
        discard_paths=True,
        exclude_paths=("**/*.tmp",),
        name="myname-$(date +%Y-%m-%d)",
        enable_symlinks=True,
        s3_prefix="builds",
    )
    assert spec.secondary_artifacts == {
        "artifact1": ArtifactSpec(files=("target/artifact-1.0.jar",), discard_paths=True)
    }
    assert spec.cache_paths == ("/root/.m2/**/*",)
    assert spec.reports == (
        ReportSpec(
            group="arn:aws:codebuild:us-east-1:123456789012:report-group/report-group-name-1",
            files=("**/*",),
            base_directory="target/tests/reports",
        ),
        ReportSpec(
            group="reportGroupCucumberJson",
            files=("cucumber/target/cucumber-tests.xml",),
            discard_paths=True,
            file_format="CUCUMBERJSON",  # "This value is not case sensitive"
        ),
    )
    assert spec.notes == ()


def test_scalars_stay_as_written_as_codebuild_reads_them() -> None:
    spec = parse_buildspec(
        "version: 0.2\n"
        "env:\n  variables:\n"
        "    DECIMAL: 1.10\n    OCTAL: 010\n    NUMBER: 3\n    FLAG: yes\n"
        "    TRUE: true\n    EMPTY:\n    DATE: 2024-01-02\n"
        "phases:\n  build:\n    commands: [echo 1]\n"
    )
    assert spec.variables == {
        "DECIMAL": "1.10",
        "OCTAL": "010",
        "NUMBER": "3",
        "FLAG": "yes",
        "TRUE": "true",
        "EMPTY": "",
        "DATE": "2024-01-02",
    }
    assert spec.phases[0].commands == ("echo 1",)


def test_a_single_string_is_a_one_item_list() -> None:
    spec = parse_buildspec(
        "version: '0.2'\nenv:\n  exported-variables: TAG\n"
        "phases:\n  build:\n    commands: make all\n    finally: make clean\n"
        "artifacts:\n  files: out.zip\n"
    )
    assert spec.exported_variables == ("TAG",)
    assert spec.phases[0].commands == ("make all",)
    assert spec.phases[0].finally_commands == ("make clean",)
    assert spec.artifacts is not None and spec.artifacts.files == ("out.zip",)


def test_phase_transitions_become_on_failure_defaults() -> None:
    # "Build phase transitions": a failed BUILD still runs POST_BUILD, the others end the build.
    spec = parse_buildspec(
        "version: 0.2\nphases:\n"
        + "".join(f"  {name}:\n    commands: [true]\n" for name in ("install", "pre_build"))
        + "  build:\n    commands: [true]\n  post_build:\n    commands: [true]\n"
    )
    assert [p.on_failure for p in spec.phases] == ["ABORT", "ABORT", "CONTINUE", "ABORT"]


def test_version_01_and_its_environment_variables_key() -> None:
    spec = parse_buildspec(
        "version: 0.1\nenvironment_variables:\n  plaintext:\n    OLD: one\n"
        "phases:\n  build:\n    commands:\n      - echo $OLD\n"
    )
    assert spec.version == "0.1"
    assert spec.variables == {"OLD": "one"}


def test_ignored_keys_are_noted_for_the_log() -> None:
    spec = parse_buildspec(
        "version: 0.2\nproxy:\n  upload-artifacts: yes\n  logs: no\n"
        "x-anchors:\n  common: &common [echo hi]\n"
        "phases:\n  build:\n    commands: *common\n"
    )
    assert spec.phases[0].commands == ("echo hi",)
    assert spec.notes == (
        "Unknown top-level key 'x-anchors' ignored",
        "proxy settings accepted and ignored: builds use the worker's network",
    )


@pytest.mark.parametrize(
    ("value", "policy"),
    [
        ("ABORT", None),
        ("CONTINUE", None),
        ("RETRY", (3, ".*")),
        ("RETRY-5", (5, ".*")),
        ("RETRY-0", (0, ".*")),
        ("RETRY-^Error$", (3, "^Error$")),
        ("RETRY-.*Error.*", (3, ".*Error.*")),
        ("RETRY-4-\\d+ failed", (4, "\\d+ failed")),
    ],
)
def test_on_failure_forms(value: str, policy: tuple[int, str] | None) -> None:
    spec = parse_buildspec(f"version: 0.2\nphases:\n  build:\n    on-failure: '{value}'\n")
    assert spec.phases[0].on_failure == value
    found = retry_policy(value)
    assert (found and (found[0], found[1].pattern)) == policy


BAD = [
    ("phases:\n  build:\n    commands: [true]\n", "Missing required key: version"),
    ("version: 0.3\nphases: {}\n", "version: unknown buildspec version 0.3"),
    ("version: [0.2]\nphases: {}\n", "Expected version to be of string type"),
    ("version: 0.2\n", "Missing required key: phases"),
    ("", "The buildspec is empty"),
    ("- version: 0.2\n", "Expected the buildspec to be a mapping: found a sequence instead"),
    (
        "version: 0.2\nphases:\n  build:\n    commands:\n      - echo: hi\n",
        "Expected phases/build/commands[0] to be of string type: found subkeys instead",
    ),
    (
        "version: 0.2\nphases:\n  build:\n    commands:\n   - echo\n  - bad\n",
        "Invalid YAML at line 5, column 4: expected <block end>",
    ),
    ("version: 0.2\nphases:\n  build:\n    commands: [\n", "Invalid YAML at line 5"),
    (
        "version: 0.2\nbatch:\n  fast-fail: false\nphases: {}\n",
        "batch: batch builds are not supported by Stageline",
    ),
    (
        "version: 0.2\nphases:\n  artifacts:\n    commands: [true]\n",
        "Invalid buildspec phase name: artifacts. Expecting: build,install,post_build,pre_build",
    ),
    (
        "version: 0.2\nphases:\n  build:\n    steps:\n      - uses: actions/checkout\n",
        "phases/build: unsupported field 'steps' in buildspec",
    ),
    (
        "version: 0.2\nphases:\n  build:\n    runtime-versions:\n      python: 3.12\n",
        "phases/build: unsupported field 'runtime-versions' in buildspec",
    ),
    ("version: 0.2\nphases: [build]\n", "Expected phases to be a mapping: found a sequence"),
    (
        "version: 0.2\nenv:\n  variables:\n    - A=1\nphases: {}\n",
        "Expected env/variables to be a mapping: found a sequence instead",
    ),
    (
        "version: 0.2\nenv:\n  variables:\n    A:\n      nested: 1\nphases: {}\n",
        "Expected env/variables/A to be of string type: found subkeys instead",
    ),
    (
        "version: 0.2\nenv:\n  parameter-store:\n    PASSWORD:\nphases: {}\n",
        "env/parameter-store/PASSWORD: missing the name of the value to retrieve",
    ),
    (
        "version: 0.2\nenv:\n  shell: powershell.exe\nphases: {}\n",
        "env/shell: powershell.exe is a Windows shell",
    ),
    ("version: 0.2\nenv:\n  shell: zsh\nphases: {}\n", "env/shell: unsupported shell 'zsh'"),
    (
        "version: 0.2\nenv:\n  git-credential-helper: maybe\nphases: {}\n",
        "env/git-credential-helper: expecting yes or no, not 'maybe'",
    ),
    (
        "version: 0.2\nphases:\n  build:\n    on-failure: abort\n",
        "phases/build/on-failure: 'abort' is not ABORT, CONTINUE, RETRY",
    ),
    (
        "version: 0.2\nphases:\n  build:\n    on-failure: RETRY-101\n",
        "the retry count must be between 0 and 100",
    ),
    (
        "version: 0.2\nphases:\n  build:\n    on-failure: RETRY-2-(\n",
        "invalid regular expression '('",
    ),
    (
        "version: 0.2\nphases: {}\nartifacts:\n  secondary-artifacts:\n    a1:\n      files: [x]\n",
        "Missing required key: artifacts/files",
    ),
    (
        "version: 0.2\nphases: {}\nartifacts:\n  files: [x]\n  discard-paths: sometimes\n",
        "artifacts/discard-paths: expecting yes or no, not 'sometimes'",
    ),
    (
        "version: 0.2\nphases: {}\nartifacts:\n  files: [x]\n"
        "  secondary-artifacts:\n    a1:\n      name: n\n",
        "Missing required key: artifacts/secondary-artifacts/a1/files",
    ),
    (
        "version: 0.2\nphases: {}\nreports:\n  group:\n    files: [r.xml]\n    file-format: XUNIT\n",
        "reports/group/file-format: unknown report format XUNIT",
    ),
    (
        "version: 0.2\nphases: {}\nreports:\n  group:\n    base-directory: r\n",
        "reports/group/files",
    ),
    ("version: 0.2\nphases: {}\ncache:\n  key: k\n", "Missing required key: cache/paths"),
]


@pytest.mark.parametrize(("text", "message"), BAD)
def test_errors_name_the_key(text: str, message: str) -> None:
    with pytest.raises(BuildspecError) as raised:
        parse_buildspec(text)
    assert message in str(raised.value)
