"""A build's variables: the buildspec's `env`, under the project's and StartBuild's (which
win, as CodeBuild's precedence says), with parameter-store and secrets-manager references
resolved through boto3's standard configuration. Resolved values are masked in the log."""

from __future__ import annotations

from typing import Any

from stageline.builds.model import BuildSpec
from stageline.builds.secrets import SecretResolutionError, resolve_parameters, resolve_secrets
from stageline.services.build_outputs import BuildFailure


def resolve_environment(
    spec: BuildSpec, document: dict[str, Any]
) -> tuple[dict[str, str], list[str]]:
    """(variables, secret values to mask)."""
    plain = dict(spec.variables)
    parameters = dict(spec.parameter_store)
    secrets = dict(spec.secrets_manager)
    for var in (document.get("environment") or {}).get("environmentVariables") or []:
        name, value = var["name"], var["value"]
        for section in (plain, parameters, secrets):
            section.pop(name, None)
        kind = var.get("type", "PLAINTEXT")
        {"PARAMETER_STORE": parameters, "SECRETS_MANAGER": secrets}.get(kind, plain)[name] = value
    try:
        resolved = {**resolve_parameters(parameters), **resolve_secrets(secrets)}
    except SecretResolutionError as exc:
        raise BuildFailure("CLIENT_ERROR", str(exc)) from None
    masked = sorted({v for v in resolved.values() if v}, key=len, reverse=True)
    return {**plain, **resolved}, masked
