"""The AWS CLI (v1, `aws codepipeline ...`) against a real `stageline serve`.

These follow AWS's documented workflow: declare the pipeline in a JSON file, create it with
`--cli-input-json file://...`, then edit the JSON that `get-pipeline` printed (without its
`metadata` block) and feed it back to `update-pipeline`.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.pipelines import two_stage, unique
from tests.support.servers import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, Server

# AWS CLI v1 exits 255 on a service error; v2 uses 254.
SERVICE_ERROR_EXIT_CODES = (254, 255)


def write_json(path: Path, data: Any) -> str:
    path.write_text(json.dumps(data))
    return f"file://{path}"


def pipeline_arn(name: str) -> str:
    return f"arn:aws:codepipeline:{REGION}:000000000000:{name}"


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout) if self.stdout.strip() else None


def run_aws(server: Server, tmp_path: Path, *args: str, **env_overrides: str) -> CliResult:
    """Like the `aws` fixture, but with environment overrides (e.g. a wrong secret)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID=ACCESS_KEY_ID,
        AWS_SECRET_ACCESS_KEY=SECRET_ACCESS_KEY,
        AWS_DEFAULT_REGION=REGION,
        AWS_CONFIG_FILE=str(tmp_path / "aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "aws-credentials"),
        AWS_MAX_ATTEMPTS="1",
        AWS_PAGER="",
    )
    env.update(env_overrides)
    proc = subprocess.run(
        ["aws", *args, "--endpoint-url", server.url, "--output", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def ok(result: Any) -> Any:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stderr}"
    return result.json()


def failed_with(result: Any, code: str) -> None:
    assert result.returncode in SERVICE_ERROR_EXIT_CODES, (
        f"expected a service error, got exit {result.returncode}\n{result.stdout}{result.stderr}"
    )
    assert code in result.stderr, result.stderr


def all_pipeline_names(aws: Any) -> list[str]:
    return [p["name"] for p in ok(aws("codepipeline", "list-pipelines"))["pipelines"]]


def test_documented_create_get_update_delete_workflow(aws: Any, tmp_path: Path) -> None:
    name = unique("cli")
    declaration = two_stage(name)
    created = ok(
        aws(
            "codepipeline",
            "create-pipeline",
            "--cli-input-json",
            write_json(tmp_path / "p.json", {"pipeline": declaration}),
        )
    )
    assert created["pipeline"]["name"] == name
    assert created["pipeline"]["version"] == 1

    got = ok(aws("codepipeline", "get-pipeline", "--name", name))
    assert got["pipeline"] == created["pipeline"]
    assert got["metadata"]["pipelineArn"] == pipeline_arn(name)
    assert got["metadata"]["created"] == got["metadata"]["updated"]

    listed = ok(aws("codepipeline", "list-pipelines"))["pipelines"]
    mine = [p for p in listed if p["name"] == name]
    assert len(mine) == 1 and mine[0]["version"] == 1

    # Edit what get-pipeline printed: drop metadata, change the build project.
    edited = dict(got)
    del edited["metadata"]
    edited["pipeline"]["stages"][1]["actions"][0]["configuration"]["ProjectName"] = "app-v2"
    updated = ok(
        aws(
            "codepipeline",
            "update-pipeline",
            "--cli-input-json",
            write_json(tmp_path / "u.json", edited),
        )
    )
    assert updated["pipeline"]["version"] == 2
    assert updated["pipeline"]["stages"][1]["actions"][0]["configuration"] == {
        "ProjectName": "app-v2"
    }

    latest = ok(aws("codepipeline", "get-pipeline", "--name", name))
    assert latest["pipeline"]["version"] == 2
    assert latest["pipeline"]["stages"][1]["actions"][0]["configuration"]["ProjectName"] == (
        "app-v2"
    )
    assert latest["metadata"]["updated"] >= latest["metadata"]["created"]

    first = ok(aws("codepipeline", "get-pipeline", "--name", name, "--pipeline-version", "1"))
    assert first["pipeline"]["version"] == 1
    assert first["pipeline"]["stages"][1]["actions"][0]["configuration"]["ProjectName"] == "app"

    listed = ok(aws("codepipeline", "list-pipelines"))["pipelines"]
    assert [p["version"] for p in listed if p["name"] == name] == [2]

    deleted = aws("codepipeline", "delete-pipeline", "--name", name)
    assert deleted.returncode == 0, deleted.stderr
    assert deleted.stdout.strip() == ""
    failed_with(aws("codepipeline", "get-pipeline", "--name", name), "PipelineNotFoundException")
    assert name not in all_pipeline_names(aws)


def test_update_from_a_stale_file_is_refused(aws: Any, tmp_path: Path) -> None:
    """docs/compatibility.md: a stale `version` gets ConcurrentModificationException."""
    name = unique("cli-stale")
    ok(
        aws(
            "codepipeline",
            "create-pipeline",
            "--cli-input-json",
            write_json(tmp_path / "p.json", {"pipeline": two_stage(name)}),
        )
    )
    got = ok(aws("codepipeline", "get-pipeline", "--name", name))
    del got["metadata"]
    edit = write_json(tmp_path / "u.json", got)
    assert ok(aws("codepipeline", "update-pipeline", "--cli-input-json", edit))["pipeline"][
        "version"
    ] == (2)
    failed_with(
        aws("codepipeline", "update-pipeline", "--cli-input-json", edit),
        "ConcurrentModificationException",
    )
    assert ok(aws("codepipeline", "get-pipeline", "--name", name))["pipeline"]["version"] == 2


def test_get_pipeline_version_that_does_not_exist(aws: Any, tmp_path: Path) -> None:
    name = unique("cli-ver")
    ok(
        aws(
            "codepipeline",
            "create-pipeline",
            "--cli-input-json",
            write_json(tmp_path / "p.json", {"pipeline": two_stage(name)}),
        )
    )
    failed_with(
        aws("codepipeline", "get-pipeline", "--name", name, "--pipeline-version", "5"),
        "PipelineVersionNotFoundException",
    )


def test_one_stage_pipeline_is_invalid_structure(aws: Any, tmp_path: Path) -> None:
    name = unique("cli-bad")
    declaration = two_stage(name)
    declaration["stages"] = declaration["stages"][:1]
    result = aws(
        "codepipeline",
        "create-pipeline",
        "--cli-input-json",
        write_json(tmp_path / "p.json", {"pipeline": declaration}),
    )
    failed_with(result, "InvalidStructureException")
    assert result.stdout.strip() == ""
    failed_with(aws("codepipeline", "get-pipeline", "--name", name), "PipelineNotFoundException")


def test_duplicate_name_is_refused(aws: Any, tmp_path: Path) -> None:
    name = unique("cli-dup")
    request = write_json(tmp_path / "p.json", {"pipeline": two_stage(name)})
    ok(aws("codepipeline", "create-pipeline", "--cli-input-json", request))
    failed_with(
        aws("codepipeline", "create-pipeline", "--cli-input-json", request),
        "PipelineNameInUseException",
    )


def test_get_missing_pipeline(aws: Any) -> None:
    failed_with(
        aws("codepipeline", "get-pipeline", "--name", unique("missing")),
        "PipelineNotFoundException",
    )


def test_wrong_secret_is_invalid_signature(server: Server, tmp_path: Path) -> None:
    result = run_aws(
        server,
        tmp_path,
        "codepipeline",
        "list-pipelines",
        AWS_SECRET_ACCESS_KEY="not-the-secret-" + "x" * 25,
    )
    failed_with(result, "InvalidSignatureException")


def test_unknown_access_key_is_refused(server: Server, tmp_path: Path) -> None:
    name = unique("cli-unknown-key")
    result = run_aws(
        server,
        tmp_path,
        "codepipeline",
        "create-pipeline",
        "--cli-input-json",
        write_json(tmp_path / "p.json", {"pipeline": two_stage(name)}),
        AWS_ACCESS_KEY_ID="AKIAUNKNOWNKEY000000",
    )
    failed_with(result, "UnrecognizedClientException")
    missing = run_aws(server, tmp_path, "codepipeline", "get-pipeline", "--name", name)
    failed_with(missing, "PipelineNotFoundException")


def test_tag_list_untag(aws: Any, tmp_path: Path) -> None:
    name = unique("cli-tags")
    arn = pipeline_arn(name)
    created = ok(
        aws(
            "codepipeline",
            "create-pipeline",
            "--cli-input-json",
            write_json(
                tmp_path / "p.json",
                {"pipeline": two_stage(name), "tags": [{"key": "team", "value": "core"}]},
            ),
        )
    )
    assert created["tags"] == [{"key": "team", "value": "core"}]

    def tags() -> dict[str, str]:
        out = ok(aws("codepipeline", "list-tags-for-resource", "--resource-arn", arn))
        return {t["key"]: t["value"] for t in out["tags"]}

    assert tags() == {"team": "core"}

    # Shorthand syntax, and overwriting an existing key.
    tagged = aws(
        "codepipeline",
        "tag-resource",
        "--resource-arn",
        arn,
        "--tags",
        "key=env,value=prod",
        "key=team,value=platform",
    )
    assert tagged.returncode == 0, tagged.stderr
    assert tags() == {"env": "prod", "team": "platform"}

    untagged = aws("codepipeline", "untag-resource", "--resource-arn", arn, "--tag-keys", "team")
    assert untagged.returncode == 0, untagged.stderr
    assert tags() == {"env": "prod"}

    failed_with(
        aws("codepipeline", "tag-resource", "--resource-arn", arn, "--tags", "key=aws:x,value=1"),
        "InvalidTagsException",
    )
    assert tags() == {"env": "prod"}

    missing = pipeline_arn(unique("no-such-pipeline"))
    failed_with(
        aws("codepipeline", "tag-resource", "--resource-arn", missing, "--tags", "key=a,value=b"),
        "ResourceNotFoundException",
    )
    failed_with(
        aws("codepipeline", "list-tags-for-resource", "--resource-arn", missing),
        "ResourceNotFoundException",
    )

    # Deleting the pipeline takes its tags with it.
    assert aws("codepipeline", "delete-pipeline", "--name", name).returncode == 0
    failed_with(
        aws("codepipeline", "list-tags-for-resource", "--resource-arn", arn),
        "ResourceNotFoundException",
    )


def test_list_action_types_owner_filter(aws: Any) -> None:
    listed = ok(aws("codepipeline", "list-action-types", "--action-owner-filter", "AWS"))
    ids = [t["id"] for t in listed["actionTypes"]]
    assert ids, listed
    assert {i["owner"] for i in ids} == {"AWS"}
    providers = {(i["category"], i["provider"]) for i in ids}
    assert ("Source", "S3") in providers
    assert ("Build", "CodeBuild") in providers
    assert ("Approval", "Manual") in providers
    assert len(ids) == len({json.dumps(i, sort_keys=True) for i in ids}), "duplicate action types"

    third_party = ok(
        aws("codepipeline", "list-action-types", "--action-owner-filter", "ThirdParty")
    )
    third_party_ids = [t["id"] for t in third_party["actionTypes"]]
    assert {i["owner"] for i in third_party_ids} == {"ThirdParty"}
    assert ("Source", "GitHub") in {(i["category"], i["provider"]) for i in third_party_ids}


def test_pagination_across_pages(aws: Any, tmp_path: Path) -> None:
    prefix = unique("cli-page")
    mine = [f"{prefix}-{i}" for i in range(7)]
    for name in mine:
        ok(
            aws(
                "codepipeline",
                "create-pipeline",
                "--cli-input-json",
                write_json(tmp_path / f"{name}.json", {"pipeline": two_stage(name)}),
            )
        )
    everything = all_pipeline_names(aws)
    assert len(everything) == len(set(everything))
    # The order is the database's (its collation); only membership is compared here.
    assert sorted(n for n in everything if n.startswith(prefix)) == mine

    # --max-items: the CLI hands back a NextToken; --starting-token continues from it.
    collected: list[str] = []
    token: str | None = None
    pages = 0
    while True:
        args = ["codepipeline", "list-pipelines", "--max-items", "3"]
        if token:
            args += ["--starting-token", token]
        page = ok(aws(*args))
        names = [p["name"] for p in page["pipelines"]]
        assert len(names) <= 3
        collected += names
        pages += 1
        token = page.get("NextToken")
        if not token:
            break
        assert pages < 500, "pagination never ends"
    assert collected == everything
    assert pages >= 3

    # --page-size: the CLI asks the server for small pages (one request per page).
    result = aws(
        "codepipeline", "list-pipelines", "--page-size", "2", "--max-items", "6", "--debug"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    requests = result.stderr.count("Making request for OperationModel(name=ListPipelines)")
    assert requests == 3, f"expected 3 requests of 2 items, saw {requests}"
    page = result.json()
    assert [p["name"] for p in page["pipelines"]] == everything[:6]
    assert page.get("NextToken")

    small = ok(aws("codepipeline", "list-pipelines", "--page-size", "2"))
    assert [p["name"] for p in small["pipelines"]] == everything
