"""Check JSON values against botocore shapes: request input and (in strict mode) responses.

Messages follow AWS's own format: "1 validation error detected: Value 'x' at 'pipeline.name'
failed to satisfy constraint: Member must ...". A value of the wrong JSON type is what AWS's
deserializer rejects, so it is reported separately as a serialization problem.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from botocore.model import ListShape, MapShape, Shape, StructureShape

from stageline.domain.errors import ServiceError, ValidationException

# Java's Unicode classes, which some models (CodeBuild's tags) use and Python's re lacks:
# the nearest class Python has, slightly wider rather than refusing valid input.
_JAVA_CLASSES = {r"\p{L}": r"\w", r"\p{Z}": r"\s", r"\p{N}": r"\d"}
_ANYTHING = re.compile(r"(?s:.*)")


@cache
def _pattern(pattern: str) -> re.Pattern[str]:
    for java, python in _JAVA_CLASSES.items():
        pattern = pattern.replace(java, python)
    try:
        return re.compile(pattern)
    except re.error:  # a pattern Python cannot read checks nothing rather than failing
        return _ANYTHING


def _show(value: Any) -> str:
    text = repr(value) if not isinstance(value, str) else value
    return text if len(text) <= 100 else text[:97] + "..."


@dataclass
class ShapeProblems:
    """What is wrong with a value: constraint violations and JSON type mismatches."""

    constraints: list[str] = field(default_factory=list)
    types: list[str] = field(default_factory=list)
    strict: bool = False

    def constraint(self, value: Any, path: str, rule: str) -> None:
        shown = "null" if value is None else f"'{_show(value)}'"
        self.constraints.append(
            f"Value {shown} at '{path}' failed to satisfy constraint: Member must {rule}"
        )

    def wrong_type(self, path: str, expected: str, value: Any) -> None:
        self.types.append(f"'{path}' must be {expected}, not {type(value).__name__}")

    def constraint_message(self) -> str:
        count = len(self.constraints)
        noun = "error" if count == 1 else "errors"
        return f"{count} validation {noun} detected: " + "; ".join(self.constraints)


def validate_input(
    shape: Shape, params: dict[str, Any], *, type_error: type[ServiceError]
) -> dict[str, Any]:
    """params, or the AWS error for them: `type_error` for wrong JSON types (the AWS endpoint
    says SerializationException, REST says ValidationException), ValidationException for
    constraint violations."""
    problems = check(shape, params)
    if problems.types:
        raise type_error("; ".join(problems.types))
    if problems.constraints:
        raise ValidationException(problems.constraint_message())
    return params


def check(shape: Shape, value: Any, *, strict: bool = False) -> ShapeProblems:
    """Walk `value` against `shape`. strict: also reject members the shape does not have."""
    problems = ShapeProblems(strict=strict)
    _walk(shape, value, "", problems)
    return problems


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _walk(shape: Shape, value: Any, path: str, problems: ShapeProblems) -> None:
    checker = _CHECKERS.get(shape.type_name)
    if checker is not None:
        checker(shape, value, path, problems)


def _structure(shape: Shape, value: Any, path: str, problems: ShapeProblems) -> None:
    assert isinstance(shape, StructureShape)
    if not isinstance(value, dict):
        problems.wrong_type(path or "body", "an object", value)
        return
    for name in shape.required_members:
        if value.get(name) is None:
            problems.constraint(None, _join(path, name), "not be null")
    for name, member_value in value.items():
        member = shape.members.get(name)
        if member is None:
            if problems.strict:
                problems.constraints.append(f"'{_join(path, name)}' is not in the model")
            continue
        if member_value is not None:
            _walk(member, member_value, _join(path, name), problems)


def _length_rules(shape: Shape, value: Any, path: str, problems: ShapeProblems) -> None:
    size = len(value)
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and size < low:
        problems.constraint(value, path, f"have length greater than or equal to {low}")
    if high is not None and size > high:
        problems.constraint(value, path, f"have length less than or equal to {high}")


def _string(shape: Shape, value: Any, path: str, problems: ShapeProblems) -> None:
    if not isinstance(value, str):
        problems.wrong_type(path, "a string", value)
        return
    _length_rules(shape, value, path, problems)
    enum = shape.metadata.get("enum")
    if enum and value not in enum:
        problems.constraint(value, path, f"satisfy enum value set: [{', '.join(enum)}]")
    pattern = shape.metadata.get("pattern")
    if pattern and not _pattern(pattern).fullmatch(value):
        problems.constraint(value, path, f"satisfy regular expression pattern: {pattern}")


def _number(shape: Shape, value: Any, path: str, problems: ShapeProblems) -> None:
    integral = shape.type_name in ("integer", "long")
    ok = isinstance(value, int) if integral else isinstance(value, int | float)
    if not ok or isinstance(value, bool):
        problems.wrong_type(path, "an integer" if integral else "a number", value)
        return
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and value < low:
        problems.constraint(value, path, f"have value greater than or equal to {low}")
    if high is not None and value > high:
        problems.constraint(value, path, f"have value less than or equal to {high}")


def _boolean(shape: Shape, value: Any, path: str, problems: ShapeProblems) -> None:
    if not isinstance(value, bool):
        problems.wrong_type(path, "a boolean", value)


def _timestamp(shape: Shape, value: Any, path: str, problems: ShapeProblems) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        problems.wrong_type(path, "a timestamp in epoch seconds", value)


def _list(shape: Shape, value: Any, path: str, problems: ShapeProblems) -> None:
    assert isinstance(shape, ListShape)
    if not isinstance(value, list):
        problems.wrong_type(path, "a list", value)
        return
    _length_rules(shape, value, path, problems)
    for index, item in enumerate(value, start=1):
        if item is not None:
            _walk(shape.member, item, f"{path}.{index}.member", problems)


def _map(shape: Shape, value: Any, path: str, problems: ShapeProblems) -> None:
    assert isinstance(shape, MapShape)
    if not isinstance(value, dict):
        problems.wrong_type(path, "an object", value)
        return
    _length_rules(shape, value, path, problems)
    for key, item in value.items():
        _walk(shape.key, key, f"{path}.key", problems)
        if item is not None:
            _walk(shape.value, item, f"{path}.{key}", problems)


_Checker = Callable[[Shape, Any, str, ShapeProblems], None]
_CHECKERS: dict[str, _Checker] = {
    "structure": _structure,
    "string": _string,
    "integer": _number,
    "long": _number,
    "double": _number,
    "float": _number,
    "boolean": _boolean,
    "timestamp": _timestamp,
    "list": _list,
    "map": _map,
}
