"""`#{namespace.Variable}` references in action configuration, resolved as AWS resolves them.

Namespaces: `codepipeline` (execution variables such as PipelineExecutionId), `variables`
(pipeline-level variables of V2 pipelines) and each action's declared `namespace`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from stageline.domain.errors import ServiceError

_REFERENCE = re.compile(r"#\{([A-Za-z0-9@\-_]+)\.([A-Za-z0-9@\-_.]+)\}")

Namespaces = Mapping[str, Mapping[str, str]]


class UnresolvedVariable(ServiceError):
    code = "ValidationException"


def resolve(text: str, namespaces: Namespaces) -> str:
    """Every reference replaced; UnresolvedVariable names the first that has no value."""

    def replace(match: re.Match[str]) -> str:
        namespace, name = match.group(1), match.group(2)
        values = namespaces.get(namespace)
        if values is None or name not in values:
            raise UnresolvedVariable(f"The variable #{{{namespace}.{name}}} could not be resolved.")
        return values[name]

    return _REFERENCE.sub(replace, text)


def resolve_all(values: Mapping[str, str], namespaces: Namespaces) -> dict[str, str]:
    return {key: resolve(value, namespaces) for key, value in values.items()}
