"""What this Stageline can run, beyond what AWS's structure rules allow.

A declaration AWS accepts but Stageline would silently ignore is refused here with a clear
message, so no pipeline looks configured for behaviour that never happens.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stageline.domain.errors import InvalidStageDeclarationException

_SEE = "(see docs/compatibility.md)"


def check_runnable(declaration: Mapping[str, Any]) -> None:
    for stage in declaration["stages"]:
        name = stage["name"]
        for gate in ("beforeEntry", "onSuccess"):
            if stage.get(gate):
                raise InvalidStageDeclarationException(
                    f"Stage '{name}' declares {gate}: Stageline does not evaluate stage "
                    f"conditions yet {_SEE}."
                )
        on_failure = stage.get("onFailure") or {}
        result = on_failure.get("result")
        if on_failure.get("conditions") or result not in (None, "FAIL"):
            raise InvalidStageDeclarationException(
                f"Stage '{name}' declares onFailure {result or 'conditions'}: Stageline does not "
                f"roll back or retry stages on failure yet; a failed stage fails the execution "
                f"{_SEE}."
            )
