"""Test reports from a buildspec's `reports` section, made the way CodeBuild makes them.

collect_reports selects each report group's files with the artifact globs (zips.select_files:
`files`, `base-directory`, `discard-paths`, relative to the source directory) and parses them by
`file-format` (case-insensitive; JUNITXML when absent): JUNITXML, CUCUMBERJSON, TESTNGXML,
NUNITXML, NUNIT3XML and VISUALSTUDIOTRX (the parsers are in report_formats.py).

Report status, following AWS's "Test report statuses" (ERROR is not a report status:
ReportStatusType is GENERATING | SUCCEEDED | FAILED | INCOMPLETE | DELETING):
- INCOMPLETE when nothing could be read: no file matched (AWS's own example of INCOMPLETE is a
  wrong path), every file was unreadable, or the format is not parsed here. The code coverage
  formats (CLOVERXML, COBERTURAXML, JACOCOXML, SIMPLECOV) give a CODE_COVERAGE report that is
  INCOMPLETE and says why: Stageline computes no coverage and does not invent a summary.
- FAILED when some test case is FAILED or ERROR ("some of the test cases were not successful"),
  even if another file was unreadable: that much is certain either way.
- INCOMPLETE when there is no failure but some file could not be read.
- SUCCEEDED otherwise: skipped tests do not fail a report, and an empty suite succeeds.
A malformed file never raises; ParsedReport.message names it and says what is wrong.

At most MAX_TEST_CASES test cases are kept, FAILED and ERROR ones first (CodeBuild keeps 500 and
"prioritizes tests with the status FAILED"); the summary counts them all and `truncated` says
so. Hostile files: over MAX_FILE_BYTES they are not read; XML with a DOCTYPE (and so any
ENTITY) is refused before anything is expanded; nesting is walked without recursion.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from stageline.artifacts.zips import select_files
from stageline.builds.model import ReportSpec
from stageline.builds.report_formats import (
    INT64_MAX,
    PARSERS,
    TEST_STATUSES,
    ParsedCase,
    ReportFileError,
    TestStatus,
    cap_message,
)

__all__ = [
    "COVERAGE_FORMATS",
    "MAX_FILE_BYTES",
    "MAX_TEST_CASES",
    "ParsedCase",
    "ParsedReport",
    "ReportStatus",
    "ReportSummary",
    "ReportType",
    "TestStatus",
    "case_to_wire",
    "collect_reports",
    "report_to_wire",
    "summary_to_wire",
]

ReportStatus = Literal["SUCCEEDED", "FAILED", "INCOMPLETE"]  # those a finished build gives
ReportType = Literal["TEST", "CODE_COVERAGE"]

COVERAGE_FORMATS = frozenset({"CLOVERXML", "COBERTURAXML", "JACOCOXML", "SIMPLECOV"})
MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_TEST_CASES = 500


@dataclass(frozen=True)
class ReportSummary:
    total: int  # every test case, truncated ones included
    status_counts: Mapping[str, int]  # all five TestStatus values, zeros included
    duration_ns: int


@dataclass(frozen=True)
class ParsedReport:
    group: str  # report group name or ARN, as in the buildspec
    type: ReportType
    file_format: str  # upper case
    status: ReportStatus
    summary: ReportSummary | None  # None for CODE_COVERAGE
    cases: tuple[ParsedCase, ...]  # at most MAX_TEST_CASES, in file order
    truncated: bool
    files: tuple[str, ...]  # the report files found, as named under the base directory
    message: str | None  # why INCOMPLETE, or which files could not be read

    def summary_line(self) -> str:
        """One line for the build log, e.g. "FAILED: 3 test cases (2 succeeded, 1 failed)
        in 0.52 s"."""
        if self.summary is None or not self.files:
            return f"{self.status}: {self.message}"
        counts = self.summary.status_counts
        parts = ", ".join(f"{n} {s.lower()}" for s, n in counts.items() if n)
        line = f"{self.status}: {self.summary.total} test cases"
        line += f" ({parts})" if parts else ""
        line += f" in {self.summary.duration_ns / 1e9:.2f} s"
        if self.truncated:
            line += f", {len(self.cases)} kept"
        return f"{line}; {self.message}" if self.message else line


# -- collecting ------------------------------------------------------------------------------------


def collect_reports(src_dir: Path, specs: Sequence[ReportSpec]) -> list[ParsedReport]:
    """One ParsedReport per report group, in buildspec order. Never raises for bad files."""
    return [_collect(Path(src_dir), spec) for spec in specs]


def _collect(src_dir: Path, spec: ReportSpec) -> ParsedReport:
    fmt = (spec.file_format or "JUNITXML").strip().upper()
    kind: ReportType = "CODE_COVERAGE" if fmt in COVERAGE_FORMATS else "TEST"
    try:
        found = select_files(
            src_dir,
            patterns=spec.files,
            base_directory=spec.base_directory,
            discard_paths=spec.discard_paths,
        )
    except ValueError as exc:
        return _incomplete(spec, fmt, kind, (), f"cannot select report files: {exc}")
    names = tuple(f.name for f in found)
    if not found:
        where = f" under {spec.base_directory!r}" if spec.base_directory else ""
        return _incomplete(
            spec, fmt, kind, names, f"no report files matched {list(spec.files)}{where}"
        )
    parser = PARSERS.get(fmt)
    if parser is None:
        why = "unknown"
        if kind == "CODE_COVERAGE":
            why = "a code coverage format, which Stageline does not parse"
        return _incomplete(spec, fmt, kind, names, f"file-format {fmt} is {why}")
    cases: list[ParsedCase] = []
    problems: list[str] = []
    for selected in found:
        try:
            cases.extend(parser(_read(selected.path), selected.name))
        except ReportFileError as exc:
            problems.append(f"{selected.name}: {exc}")
        except Exception as exc:  # a parser must not fail the build on hostile input
            problems.append(f"{selected.name}: unreadable ({type(exc).__name__})")
    return _finish(spec, fmt, names, cases, problems)


def _read(path: Path) -> bytes:
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ReportFileError(f"cannot be read ({exc.strerror})") from None
    if len(data) > MAX_FILE_BYTES:
        raise ReportFileError(f"larger than the {MAX_FILE_BYTES // 2**20} MiB limit")
    return data


def _incomplete(
    spec: ReportSpec, fmt: str, kind: ReportType, names: tuple[str, ...], why: str
) -> ParsedReport:
    summary = ReportSummary(0, dict.fromkeys(TEST_STATUSES, 0), 0) if kind == "TEST" else None
    return ParsedReport(spec.group, kind, fmt, "INCOMPLETE", summary, (), False, names, why)


def _finish(
    spec: ReportSpec,
    fmt: str,
    names: tuple[str, ...],
    cases: list[ParsedCase],
    problems: list[str],
) -> ParsedReport:
    counts: dict[str, int] = dict.fromkeys(TEST_STATUSES, 0)
    for case in cases:
        counts[case.status] += 1
    duration = min(sum(case.duration_ns for case in cases), INT64_MAX)
    summary = ReportSummary(len(cases), counts, duration)
    status: ReportStatus = "SUCCEEDED"
    if counts["FAILED"] or counts["ERROR"]:
        status = "FAILED"
    elif problems:
        status = "INCOMPLETE"
    kept, truncated = _truncate(cases)
    message = None
    if problems:
        message = cap_message(
            f"{len(problems)} of {len(names)} files unreadable: " + "; ".join(problems)
        )
    return ParsedReport(spec.group, "TEST", fmt, status, summary, kept, truncated, names, message)


def _truncate(cases: list[ParsedCase]) -> tuple[tuple[ParsedCase, ...], bool]:
    if len(cases) <= MAX_TEST_CASES:
        return tuple(cases), False
    rank = {"FAILED": 0, "ERROR": 1}
    first = sorted(range(len(cases)), key=lambda i: rank.get(cases[i].status, 2))
    return tuple(cases[i] for i in sorted(first[:MAX_TEST_CASES])), True


# -- the wire --------------------------------------------------------------------------------------


def summary_to_wire(summary: ReportSummary) -> dict[str, Any]:
    """botocore's codebuild TestReportSummary."""
    return {
        "total": summary.total,
        "statusCounts": dict(summary.status_counts),
        "durationInNanoSeconds": summary.duration_ns,
    }


def report_to_wire(
    report: ParsedReport,
    *,
    arn: str,
    report_group_arn: str,
    execution_id: str,
    created: datetime,
    expired: datetime | None = None,
    name: str | None = None,
    export_config: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """botocore's codebuild Report. execution_id is the build's ARN; name defaults to the
    group; export_config defaults to NO_EXPORT (the raw files stay where the caller put them)."""
    wire: dict[str, Any] = {
        "arn": arn,
        "type": report.type,
        "name": name or report.group,
        "reportGroupArn": report_group_arn,
        "executionId": execution_id,
        "status": report.status,
        "created": _epoch(created),
        "exportConfig": dict(export_config or {"exportConfigType": "NO_EXPORT"}),
        "truncated": report.truncated,
    }
    if expired is not None:
        wire["expired"] = _epoch(expired)
    if report.summary is not None:
        wire["testSummary"] = summary_to_wire(report.summary)
    return wire


def case_to_wire(
    case: ParsedCase, *, report_arn: str, expired: datetime | None = None
) -> dict[str, Any]:
    """botocore's codebuild TestCase (what DescribeTestCases lists)."""
    wire: dict[str, Any] = {
        "reportArn": report_arn,
        "testRawDataPath": case.raw_data_path,
        "prefix": case.prefix,
        "name": case.name,
        "status": case.status,
        "durationInNanoSeconds": case.duration_ns,
        "testSuiteName": case.suite,
    }
    if case.message is not None:
        wire["message"] = case.message
    if expired is not None:
        wire["expired"] = _epoch(expired)
    return wire


def _epoch(moment: datetime) -> float:
    return round(moment.timestamp(), 3)  # as stageline.aws.protocol.to_wire writes timestamps
