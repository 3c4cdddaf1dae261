"""Parsers for the test report file formats CodeBuild reads; reports.py picks one by
`file-format` and turns the cases into a report.

Each parser takes the file's bytes and its name (testRawDataPath) and returns the test cases
in file order, or raises ReportFileError saying what is wrong. XML goes through expat with any
DOCTYPE refused (so no entity can be declared: no billion laughs, no external entities) and is
walked without recursion, so deep nesting cannot exhaust the stack.

Test case statuses are CodeBuild's: SUCCEEDED, FAILED, ERROR, SKIPPED, and UNKNOWN for "a
status other than" those (Cucumber's pending, undefined and ambiguous; NUnit's Inconclusive).
The prefix is the class name (JUnit classname, TestNG class, NUnit classname or the name's
owner, TRX className) or, for Cucumber, the feature name; testSuiteName is the enclosing suite
(JUnit testsuite, TestNG suite, NUnit test-suite, Cucumber feature, TRX run name).
"""

from __future__ import annotations

import json
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal
from xml.parsers import expat

TestStatus = Literal["SUCCEEDED", "FAILED", "ERROR", "SKIPPED", "UNKNOWN"]

TEST_STATUSES: tuple[TestStatus, ...] = ("SUCCEEDED", "FAILED", "ERROR", "SKIPPED", "UNKNOWN")
MAX_MESSAGE_CHARS = 16 * 1024
INT64_MAX = 2**63 - 1  # durationInNanoSeconds is a Long on the wire
# Worst first: a scenario takes its worst step's status.
_RANK: Mapping[str, int] = {"FAILED": 0, "ERROR": 1, "UNKNOWN": 2, "SKIPPED": 3, "SUCCEEDED": 4}


class ReportFileError(ValueError):
    """One report file cannot be read as its format; the message says why."""


@dataclass(frozen=True)
class ParsedCase:
    name: str
    prefix: str  # class name, or the Cucumber feature's name
    suite: str  # the enclosing suite (testSuiteName)
    status: TestStatus
    duration_ns: int
    message: str | None  # failure message and stack trace
    raw_data_path: str  # the report file, as named under the base directory (testRawDataPath)


# -- helpers ---------------------------------------------------------------------------------------


def parse_xml(data: bytes) -> ET.Element:
    """Parse with expat, refusing any DOCTYPE: no DTD means no entity can be declared, so no
    billion laughs and no external entities. Namespace prefixes are dropped from tag names."""
    builder = ET.TreeBuilder()
    parser = expat.ParserCreate()

    def refuse(*_: object) -> None:
        raise ReportFileError("DOCTYPE and ENTITY declarations are refused")

    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.StartElementHandler = lambda tag, attrs: builder.start(_local(tag), attrs)
    parser.EndElementHandler = lambda tag: builder.end(_local(tag))
    parser.CharacterDataHandler = builder.data
    parser.buffer_text = True
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        reason = expat.ErrorString(exc.code)
        raise ReportFileError(f"not well-formed XML: {reason} at line {exc.lineno}") from None
    return builder.close()


def _local(tag: str) -> str:
    return tag.rpartition(":")[2]


def _expect_root(root: ET.Element, *tags: str) -> None:
    if root.tag not in tags:
        wanted = " or ".join(f"<{t}>" for t in tags)
        raise ReportFileError(f"root element is <{root.tag}>, not {wanted}")


def _cases_in(root: ET.Element, suite_tag: str, case_tag: str) -> Iterator[tuple[ET.Element, str]]:
    """Each case element in document order with its nearest suite's name, at any depth."""
    stack = [(root, "")]
    while stack:
        element, suite = stack.pop()
        if element.tag == case_tag:
            yield element, suite
            continue
        if element.tag == suite_tag:
            suite = element.get("name", suite)
        stack.extend((child, suite) for child in reversed(element))


def _message(*parts: str | None) -> str | None:
    kept: list[str] = []
    for part in parts:
        text = (part or "").strip()
        if text and not any(text in seen for seen in kept):
            kept.append(text)
    return cap_message("\n".join(kept)) if kept else None


def cap_message(text: str) -> str:
    return text if len(text) <= MAX_MESSAGE_CHARS else text[: MAX_MESSAGE_CHARS - 3] + "..."


def _ns(seconds: object, scale: float = 1e9) -> int:
    """Seconds (or another unit, by scale) as whole nanoseconds; junk and negatives are 0."""
    try:
        value = float(str(seconds).replace(",", "")) * scale
    except ValueError:
        return 0
    if not math.isfinite(value) or value <= 0:
        return 0
    return min(round(value), INT64_MAX)


# -- formats ---------------------------------------------------------------------------------------


_JUNIT_OUTCOMES: tuple[tuple[str, TestStatus], ...] = (
    ("failure", "FAILED"),
    ("error", "ERROR"),
    ("skipped", "SKIPPED"),
)


def _junit(data: bytes, raw: str) -> list[ParsedCase]:
    """<testsuites>/<testsuite> (nested at any depth)/<testcase>; time in seconds."""
    root = parse_xml(data)
    _expect_root(root, "testsuites", "testsuite")
    cases = []
    for el, suite in _cases_in(root, "testsuite", "testcase"):
        status: TestStatus = "SUCCEEDED"
        message = None
        for tag, outcome in _JUNIT_OUTCOMES:
            found = el.find(tag)
            if found is not None:
                status, message = outcome, _message(found.get("message"), found.text)
                break
        prefix = el.get("classname") or suite
        duration = _ns(el.get("time", 0))
        cases.append(ParsedCase(el.get("name", ""), prefix, suite, status, duration, message, raw))
    return cases


def _cucumber(data: bytes, raw: str) -> list[ParsedCase]:
    """features -> elements (scenarios; a background folds into the scenario after it) ->
    before hooks, steps, after hooks, each with result.status and result.duration (ns)."""
    try:
        doc = json.loads(data.decode("utf-8-sig"))
    except json.JSONDecodeError as exc:
        raise ReportFileError(f"not valid JSON: {exc.msg} at line {exc.lineno}") from None
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ReportFileError(f"not valid JSON ({type(exc).__name__})") from None
    if not isinstance(doc, list):
        raise ReportFileError("not a Cucumber JSON array of features")
    cases = []
    for feature in doc:
        if not isinstance(feature, dict):
            raise ReportFileError("a feature is not a JSON object")
        title = _str(feature.get("name")) or _str(feature.get("uri"))
        background: list[tuple[str, dict[str, Any]]] = []
        for element in _dicts(feature.get("elements")):
            if element.get("type") == "background":
                background = _results(element)
                continue
            steps = [*background, *_results(element)]
            background = []
            cases.append(_scenario(_str(element.get("name")), title, steps, raw))
    return cases


_CUCUMBER_STATUS: Mapping[str, TestStatus] = {
    "passed": "SUCCEEDED",
    "failed": "FAILED",
    "skipped": "SKIPPED",
}


def _scenario(
    name: str, feature: str, steps: list[tuple[str, dict[str, Any]]], raw: str
) -> ParsedCase:
    status: TestStatus = "SUCCEEDED"
    message = None
    duration = 0
    for label, result in steps:
        # pending, undefined and ambiguous steps are "a status other than" the four known ones
        step_status = _CUCUMBER_STATUS.get(_str(result.get("status")).lower(), "UNKNOWN")
        if _RANK[step_status] < _RANK[status]:
            status = step_status
        if step_status == "FAILED" and message is None:
            message = _message(f"{label}:", _str(result.get("error_message")))
        duration += _ns(result.get("duration", 0), 1.0)
    return ParsedCase(name, feature, feature, status, min(duration, INT64_MAX), message, raw)


def _results(element: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for key in ("before", "steps", "after"):
        for step in _dicts(element.get(key)):
            result = step.get("result")
            if isinstance(result, dict):
                label = f"{_str(step.get('keyword')).strip()} {_str(step.get('name'))}".strip()
                found.append((label or key, result))
    return found


def _dicts(value: object) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


def _testng(data: bytes, raw: str) -> list[ParsedCase]:
    """<testng-results>/<suite>/<test>/<class>/<test-method status=PASS|FAIL|SKIP>; config
    methods (is-config) are not tests; duration-ms in milliseconds."""
    root = parse_xml(data)
    _expect_root(root, "testng-results")
    outcomes: Mapping[str, TestStatus] = {"PASS": "SUCCEEDED", "FAIL": "FAILED", "SKIP": "SKIPPED"}
    cases = []
    for suite in root.iter("suite"):
        for cls in suite.iter("class"):
            for method in cls.iter("test-method"):
                if method.get("is-config") == "true":
                    continue
                status = outcomes.get(method.get("status", "").upper(), "UNKNOWN")
                exc = method.find("exception")
                message = None
                if exc is not None:
                    text = exc.findtext("message"), exc.findtext("full-stacktrace")
                    message = _message(exc.get("class"), *text)
                duration = _ns(method.get("duration-ms", 0), 1e6)
                name, prefix = method.get("name", ""), cls.get("name", "")
                case = ParsedCase(
                    name, prefix, suite.get("name", ""), status, duration, message, raw
                )
                cases.append(case)
    return cases


_NUNIT_RESULTS: Mapping[str, TestStatus] = {
    "passed": "SUCCEEDED",
    "success": "SUCCEEDED",
    "failed": "FAILED",
    "failure": "FAILED",
    "error": "ERROR",
    "cancelled": "ERROR",
    "invalid": "ERROR",
    "notrunnable": "ERROR",
    "skipped": "SKIPPED",
    "ignored": "SKIPPED",
    "explicit": "SKIPPED",
}


def _nunit(data: bytes, raw: str) -> list[ParsedCase]:
    """NUnit 3 (<test-run>, result + label, classname, duration) and NUnit 2 (<test-results>,
    result, full name in name, time), both <test-suite>s nested at any depth."""
    root = parse_xml(data)
    _expect_root(root, "test-run", "test-results")
    cases = []
    for el, suite in _cases_in(root, "test-suite", "test-case"):
        status = _NUNIT_RESULTS.get(el.get("result", "").lower(), "UNKNOWN")
        if status == "FAILED" and el.get("label", "").lower() in ("error", "cancelled", "invalid"):
            status = "ERROR"  # NUnit 3 marks exceptions as result=Failed label=Error
        detail = el.find("failure")
        if detail is None:
            detail = el.find("reason")
        message = None
        if detail is not None:
            message = _message(detail.findtext("message"), detail.findtext("stack-trace"))
        name, prefix = _nunit_names(el, suite)
        duration = _ns(el.get("duration") or el.get("time") or 0)
        cases.append(ParsedCase(name, prefix, suite, status, duration, message, raw))
    return cases


def _nunit_names(el: ET.Element, suite: str) -> tuple[str, str]:
    if el.get("classname"):
        return el.get("name", ""), el.get("classname", "")
    full = el.get("name", "")
    owner = full.split("(", 1)[0].rpartition(".")[0]  # NUnit 2: Namespace.Class.Method(args)
    return (full[len(owner) + 1 :], owner) if owner else (full, suite)


_TRX_OUTCOMES: Mapping[str, TestStatus] = {
    "passed": "SUCCEEDED",
    "passedbutrunaborted": "SUCCEEDED",
    "failed": "FAILED",
    "error": "ERROR",
    "timeout": "ERROR",
    "aborted": "ERROR",
    "notexecuted": "SKIPPED",
    "notrunnable": "SKIPPED",
}
_TIMESPAN = re.compile(r"(?:(\d+)\.)?(\d+):(\d+):(\d+(?:\.\d+)?)")


def _trx(data: bytes, raw: str) -> list[ParsedCase]:
    """<TestRun>/<Results>/<UnitTestResult outcome duration=hh:mm:ss.fffffff>, the class name
    from <TestDefinitions>/<UnitTest id>/<TestMethod className>."""
    root = parse_xml(data)
    _expect_root(root, "TestRun")
    classes = {}
    for test in root.iter("UnitTest"):
        method = test.find("TestMethod")
        if method is not None:  # className may carry ", Assembly, Version=..."
            classes[test.get("id", "")] = method.get("className", "").split(",")[0].strip()
    cases = []
    for result in root.findall("Results/UnitTestResult"):
        status = _TRX_OUTCOMES.get(result.get("outcome", "").lower(), "UNKNOWN")
        info = result.find("Output/ErrorInfo")
        message = None
        if info is not None:
            message = _message(info.findtext("Message"), info.findtext("StackTrace"))
        match = _TIMESPAN.fullmatch(result.get("duration", ""))
        seconds = 0.0
        if match:
            days, hours, minutes, secs = match.groups()
            seconds = ((int(days or 0) * 24 + int(hours)) * 60 + int(minutes)) * 60 + float(secs)
        prefix = classes.get(result.get("testId", ""), "")
        name = result.get("testName", "")
        suite = root.get("name", "")
        cases.append(ParsedCase(name, prefix, suite, status, _ns(seconds), message, raw))
    return cases


PARSERS: Mapping[str, Callable[[bytes, str], list[ParsedCase]]] = {
    "JUNITXML": _junit,
    "CUCUMBERJSON": _cucumber,
    "TESTNGXML": _testng,
    "NUNITXML": _nunit,
    "NUNIT3XML": _nunit,
    "VISUALSTUDIOTRX": _trx,
}
