"""Test reports: real pytest JUnit output, the other formats, hostile and broken files, and the
wire shapes checked against botocore's codebuild model."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from stageline.aws.shapes import check
from stageline.aws.spec import service_model
from stageline.builds import reports
from stageline.builds.model import ReportSpec
from stageline.builds.reports import (
    MAX_TEST_CASES,
    ParsedCase,
    ParsedReport,
    case_to_wire,
    collect_reports,
    report_to_wire,
    summary_to_wire,
)

SAMPLES = Path(__file__).parent / "report_samples"
PYTEST_SUITE = """
import pytest

def test_passes():
    pass

def test_fails():
    assert 1 == 2, "one is not two"

@pytest.fixture
def broken():
    raise RuntimeError("fixture broke")

def test_errors(broken):
    pass

@pytest.mark.skip(reason="not today")
def test_skipped():
    pass

class TestGroup:
    def test_inner(self):
        pass
"""


def write(root: Path, rel: str, text: str | bytes) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def one(src: Path, *files: str, fmt: str = "JUNITXML", **kw: Any) -> ParsedReport:
    [report] = collect_reports(src, [ReportSpec("unit", files, file_format=fmt, **kw)])
    return report


def by_name(report: ParsedReport) -> dict[str, ParsedCase]:
    return {case.name: case for case in report.cases}


def junit(*cases: str, root: str = "testsuites") -> str:
    body = "".join(cases)
    if root == "testsuite":
        return f'<?xml version="1.0"?><testsuite name="S">{body}</testsuite>'
    return f'<?xml version="1.0"?><testsuites><testsuite name="S">{body}</testsuite></testsuites>'


# -- JUnit -----------------------------------------------------------------------------------------


def test_pytest_junitxml_as_pytest_writes_it(tmp_path: Path) -> None:
    write(tmp_path, "test_demo.py", PYTEST_SUITE)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    args = [
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "--junitxml",
        "out/junit.xml",
        "test_demo.py",
    ]
    subprocess.run([sys.executable, *args], cwd=tmp_path, env=env, capture_output=True, timeout=120)
    report = one(tmp_path, "out/*.xml")

    assert report.status == "FAILED"
    assert report.type == "TEST"
    assert report.files == ("out/junit.xml",)
    assert report.message is None
    cases = by_name(report)
    assert {name: case.status for name, case in cases.items()} == {
        "test_passes": "SUCCEEDED",
        "test_fails": "FAILED",
        "test_errors": "ERROR",
        "test_skipped": "SKIPPED",
        "test_inner": "SUCCEEDED",
    }
    assert cases["test_fails"].prefix == "test_demo"
    assert cases["test_inner"].prefix == "test_demo.TestGroup"
    assert cases["test_fails"].suite == "pytest"
    assert "one is not two" in (cases["test_fails"].message or "")
    assert "fixture broke" in (cases["test_errors"].message or "")
    assert "not today" in (cases["test_skipped"].message or "")
    assert cases["test_passes"].message is None
    assert all(case.raw_data_path == "out/junit.xml" for case in report.cases)
    assert report.summary is not None
    assert report.summary.total == 5
    assert report.summary.status_counts == {
        "SUCCEEDED": 2,
        "FAILED": 1,
        "ERROR": 1,
        "SKIPPED": 1,
        "UNKNOWN": 0,
    }
    assert report.summary.duration_ns == sum(c.duration_ns for c in report.cases)


def test_junit_nested_suites_times_and_testsuite_root(tmp_path: Path) -> None:
    write(
        tmp_path,
        "r/nested.xml",
        (
            '<testsuites><testsuite name="outer"><testsuite name="inner">'
            '<testcase classname="pkg.A" name="deep" time="1.5"/></testsuite>'
            '<testcase name="no_class" time="0.25"><error message="boom" type="E">trace</error></testcase>'
            "</testsuite></testsuites>"
        ),
    )
    write(
        tmp_path,
        "r/surefire.xml",
        junit(
            '<testcase classname="pkg.B" name="t" time="1,234.5"/>',
            '<testcase classname="pkg.B" name="junk" time="soon"/>',
            '<testcase classname="pkg.B" name="negative" time="-3"/>',
            root="testsuite",
        ),
    )
    report = one(tmp_path, "r/*.xml")

    cases = by_name(report)
    assert (cases["deep"].suite, cases["deep"].prefix) == ("inner", "pkg.A")
    assert cases["deep"].duration_ns == 1_500_000_000
    assert (cases["no_class"].suite, cases["no_class"].prefix) == ("outer", "outer")
    assert cases["no_class"].status == "ERROR"
    assert cases["no_class"].message == "boom\ntrace"
    assert cases["t"].duration_ns == 1_234_500_000_000
    assert cases["junk"].duration_ns == 0
    assert cases["negative"].duration_ns == 0
    assert [c.name for c in report.cases] == ["deep", "no_class", "t", "junk", "negative"]
    assert report.status == "FAILED"  # an ERROR case is not successful either


def test_skips_do_not_fail_a_report_and_an_empty_suite_succeeds(tmp_path: Path) -> None:
    write(tmp_path, "a.xml", junit('<testcase name="s"><skipped/></testcase>'))
    write(tmp_path, "b.xml", junit())
    report = one(tmp_path, "*.xml")
    assert report.status == "SUCCEEDED"
    assert report.summary is not None
    assert report.summary.total == 1


def test_base_directory_discard_paths_and_file_format_case(tmp_path: Path) -> None:
    write(tmp_path, "build/reports/mod1/TEST-a.xml", junit('<testcase name="a"/>'))
    write(tmp_path, "build/reports/mod2/TEST-b.xml", junit('<testcase name="b"/>'))
    report = one(
        tmp_path, "**/*.xml", fmt="junitxml", base_directory="build/reports", discard_paths=True
    )
    assert report.file_format == "JUNITXML"
    assert report.files == ("TEST-a.xml", "TEST-b.xml")
    assert by_name(report)["b"].raw_data_path == "TEST-b.xml"

    kept = one(tmp_path, "**/*.xml", base_directory="build/reports")
    assert by_name(kept)["b"].raw_data_path == "mod2/TEST-b.xml"


# -- the other formats -----------------------------------------------------------------------------


def sample(tmp_path: Path, name: str) -> None:
    shutil.copy(SAMPLES / name, tmp_path / name)


def test_cucumber_json(tmp_path: Path) -> None:
    sample(tmp_path, "cucumber.json")
    report = one(tmp_path, "cucumber.json", fmt="CUCUMBERJSON")

    cases = by_name(report)
    assert {n: c.status for n, c in cases.items()} == {
        "good password": "SUCCEEDED",
        "bad password": "FAILED",
        "not written": "UNKNOWN",  # undefined: "a status other than" the known four
        "hook fails": "FAILED",
        "all skipped": "SKIPPED",
        "empty": "SUCCEEDED",
    }
    assert cases["good password"].duration_ns == 2_000_000  # its background step + its own
    assert cases["bad password"].duration_ns == 1_000_005
    assert cases["bad password"].message == "When logging in:\nexpected 401"
    assert cases["hook fails"].message == "after:\nteardown"
    assert (cases["bad password"].prefix, cases["bad password"].suite) == ("Login", "Login")
    assert cases["empty"].prefix == "features/unnamed.feature"
    assert report.status == "FAILED"


def test_testng_xml(tmp_path: Path) -> None:
    sample(tmp_path, "testng-results.xml")
    cases = by_name(one(tmp_path, "*.xml", fmt="TESTNGXML"))
    assert {n: c.status for n, c in cases.items()} == {
        "adds": "SUCCEEDED",
        "divides": "FAILED",
        "later": "SKIPPED",
    }  # setUp is a configuration method, not a test
    assert cases["adds"].duration_ns == 12_000_000
    assert (cases["divides"].prefix, cases["divides"].suite) == ("com.example.CalcTest", "Suite")
    assert cases["divides"].message == (
        "java.lang.ArithmeticException\n/ by zero\nat com.example.Calc.div(Calc.java:7)"
    )


def test_nunit3_xml(tmp_path: Path) -> None:
    sample(tmp_path, "nunit3.xml")
    cases = by_name(one(tmp_path, "nunit3.xml", fmt="NUNIT3XML"))
    assert {n: c.status for n, c in cases.items()} == {
        "Adds": "SUCCEEDED",
        "Throws": "ERROR",
        "Wrong": "FAILED",
        "Maybe": "UNKNOWN",
        "Later": "SKIPPED",
    }
    assert cases["Adds"].duration_ns == 500_000_000
    assert (cases["Throws"].prefix, cases["Throws"].suite) == ("Ns.CalcTests", "CalcTests")
    assert cases["Throws"].message == "System.NullReferenceException\nat Ns.CalcTests.Throws()"
    assert cases["Later"].message == "flaky"


def test_nunit2_xml(tmp_path: Path) -> None:
    sample(tmp_path, "nunit2.xml")
    cases = by_name(one(tmp_path, "nunit2.xml", fmt="NUNITXML"))
    assert {n: c.status for n, c in cases.items()} == {
        "Works(1.5)": "SUCCEEDED",
        "Breaks": "FAILED",
        "Off": "SKIPPED",
    }
    assert (cases["Works(1.5)"].prefix, cases["Works(1.5)"].suite) == ("Ns.Old", "Old")
    assert cases["Breaks"].duration_ns == 200_000_000
    assert cases["Off"].message == "off for now"


def test_visual_studio_trx(tmp_path: Path) -> None:
    sample(tmp_path, "results.trx")
    cases = by_name(one(tmp_path, "*.trx", fmt="VISUALSTUDIOTRX"))
    assert {n: c.status for n, c in cases.items()} == {
        "Adds": "SUCCEEDED",
        "Fails": "FAILED",
        "Skips": "SKIPPED",
    }
    assert cases["Adds"].duration_ns == 1_500_000_000
    assert cases["Fails"].duration_ns == 86_400 * 10**9
    assert (cases["Fails"].prefix, cases["Adds"].prefix, cases["Skips"].prefix) == (
        "Ns.Tests",
        "Ns.Tests",
        "",
    )
    assert cases["Fails"].suite == "runner@HOST 2024-05-01 12:00:00"
    assert cases["Fails"].message == (
        "Assert.AreEqual failed. Expected:<2>. Actual:<3>.\nat Ns.Tests.Fails()"
    )


# -- statuses without test results -----------------------------------------------------------------


def test_no_matching_files_is_incomplete(tmp_path: Path) -> None:
    report = one(tmp_path, "missing/*.xml")
    assert report.status == "INCOMPLETE"
    assert report.files == ()
    assert "no report files matched" in (report.message or "")
    assert report.summary is not None and report.summary.total == 0


def test_a_base_directory_leaving_the_source_is_incomplete(tmp_path: Path) -> None:
    report = one(tmp_path / "src", "*.xml", base_directory="../elsewhere")
    assert report.status == "INCOMPLETE"
    assert "cannot select report files" in (report.message or "")


@pytest.mark.parametrize("fmt", ["CLOVERXML", "coberturaxml", "JACOCOXML", "SIMPLECOV"])
def test_code_coverage_formats_are_incomplete_coverage_reports(tmp_path: Path, fmt: str) -> None:
    write(tmp_path, "coverage.xml", '<coverage line-rate="0.9"/>')
    report = one(tmp_path, "coverage.xml", fmt=fmt)
    assert report.type == "CODE_COVERAGE"
    assert report.status == "INCOMPLETE"
    assert report.summary is None
    assert report.files == ("coverage.xml",)
    assert "code coverage" in (report.message or "")


def test_an_unknown_format_is_incomplete(tmp_path: Path) -> None:
    write(tmp_path, "r.xml", junit('<testcase name="a"/>'))
    report = one(tmp_path, "r.xml", fmt="TAP")
    assert (report.type, report.status) == ("TEST", "INCOMPLETE")
    assert "TAP is unknown" in (report.message or "")


# -- malformed and hostile files -------------------------------------------------------------------

BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'
        for i in range(1, 10)
    )
    + ']><testsuites><testsuite name="x"><testcase name="&lol9;"/></testsuite></testsuites>'
)


def test_malformed_files_are_named_and_do_not_hide_failures(tmp_path: Path) -> None:
    write(tmp_path, "r/bad.xml", "<testsuites><testsuite name='x'><testcase")
    write(tmp_path, "r/html.xml", "<html><body>oops</body></html>")
    write(tmp_path, "r/fail.xml", junit('<testcase name="f"><failure message="m"/></testcase>'))
    report = one(tmp_path, "r/*.xml")
    assert report.status == "FAILED"  # a failure is certain even with a file missing
    assert [c.name for c in report.cases] == ["f"]
    message = report.message or ""
    assert message.startswith("2 of 3 files unreadable")
    assert "bad.xml: not well-formed XML" in message
    assert "html.xml: root element is <html>, not <testsuites> or <testsuite>" in message


def test_an_unreadable_file_without_failures_is_incomplete(tmp_path: Path) -> None:
    write(tmp_path, "ok.xml", junit('<testcase name="ok"/>'))
    write(tmp_path, "empty.xml", "")
    report = one(tmp_path, "*.xml")
    assert report.status == "INCOMPLETE"
    assert [c.name for c in report.cases] == ["ok"]
    assert "empty.xml: not well-formed XML" in (report.message or "")


def test_entity_expansion_is_refused_quickly(tmp_path: Path) -> None:
    write(tmp_path, "lol.xml", BILLION_LAUGHS)
    started = time.monotonic()
    report = one(tmp_path, "lol.xml")
    assert time.monotonic() - started < 5
    assert report.status == "INCOMPLETE"
    assert "DOCTYPE and ENTITY declarations are refused" in (report.message or "")


def test_external_entities_are_not_read(tmp_path: Path) -> None:
    secret = write(tmp_path / "outside", "secret.txt", "TOP-SECRET-VALUE")
    write(
        tmp_path,
        "src/xxe.xml",
        (
            f'<?xml version="1.0"?><!DOCTYPE t [<!ENTITY x SYSTEM "file://{secret}">]>'
            '<testsuites><testsuite name="s"><testcase name="&x;"><failure message="&x;"/>'
            "</testcase></testsuite></testsuites>"
        ),
    )
    report = one(tmp_path / "src", "xxe.xml")
    assert report.status == "INCOMPLETE"
    assert report.cases == ()
    assert "TOP-SECRET-VALUE" not in repr(report)


def test_files_over_the_size_cap_are_not_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reports, "MAX_FILE_BYTES", 1024)
    write(tmp_path, "big.xml", junit(*['<testcase name="t"/>'] * 100))
    write(tmp_path, "small.xml", junit('<testcase name="s"/>'))
    report = one(tmp_path, "*.xml")
    assert report.status == "INCOMPLETE"
    assert [c.name for c in report.cases] == ["s"]
    assert "big.xml: larger than" in (report.message or "")


def test_deep_nesting_does_not_exhaust_the_stack(tmp_path: Path) -> None:
    depth = 50_000
    xml = '<testsuite name="s">' * depth + '<testcase name="deep"/>' + "</testsuite>" * depth
    write(tmp_path, "deep.xml", xml)
    write(tmp_path, "deep.json", "[" * depth + "]" * depth)
    report = one(tmp_path, "deep.xml")
    assert [c.name for c in report.cases] == ["deep"]
    cucumber = one(tmp_path, "deep.json", fmt="CUCUMBERJSON")
    assert cucumber.status == "INCOMPLETE"
    assert "deep.json:" in (cucumber.message or "")


@pytest.mark.parametrize(
    "text",
    ["{not json", '{"name": "a feature, not a list"}', "[1, 2]", b"\xff\xfe\x00garbage"],
)
def test_bad_cucumber_json_never_raises(tmp_path: Path, text: str | bytes) -> None:
    write(tmp_path, "c.json", text)
    report = one(tmp_path, "c.json", fmt="CUCUMBERJSON")
    assert report.status == "INCOMPLETE"
    assert (report.message or "").startswith("1 of 1 files unreadable: c.json: ")


def test_odd_cucumber_shapes_are_tolerated(tmp_path: Path) -> None:
    doc = [{"name": "F", "elements": [5, {"name": "s", "steps": [None, {"result": "x"}]}]}]
    write(tmp_path, "c.json", json.dumps(doc))
    report = one(tmp_path, "c.json", fmt="CUCUMBERJSON")
    assert [(c.name, c.status) for c in report.cases] == [("s", "SUCCEEDED")]


# -- truncation and the wire -----------------------------------------------------------------------


def test_more_than_500_cases_keeps_failures_first(tmp_path: Path) -> None:
    passing = [f'<testcase name="p{i}"/>' for i in range(MAX_TEST_CASES + 100)]
    failing = [f'<testcase name="f{i}"><failure/></testcase>' for i in range(3)]
    write(tmp_path, "big.xml", junit(*passing, *failing))
    report = one(tmp_path, "big.xml")
    assert report.truncated
    assert len(report.cases) == MAX_TEST_CASES
    names = [c.name for c in report.cases]
    assert names[-3:] == ["f0", "f1", "f2"]  # kept, and still in file order
    assert names[0] == "p0"
    assert report.summary is not None
    assert report.summary.total == MAX_TEST_CASES + 103
    assert report.summary.status_counts["FAILED"] == 3
    assert "kept" in report.summary_line()


def shape(name: str) -> Any:
    return service_model("codebuild").shape_for(name)


def test_wire_shapes_match_botocore(tmp_path: Path) -> None:
    write(
        tmp_path,
        "r.xml",
        junit(
            '<testcase name="a" time="2"/>', '<testcase name="b"><failure message="m"/></testcase>'
        ),
    )
    write(tmp_path, "coverage.xml", "<coverage/>")
    test_report, coverage = collect_reports(
        tmp_path,
        [
            ReportSpec("unit", ("r.xml",)),
            ReportSpec("cov", ("coverage.xml",), file_format="JACOCOXML"),
        ],
    )
    created = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    arn = "arn:aws:codebuild:us-east-1:123456789012:report/proj-unit:1f0e"
    wire = report_to_wire(
        test_report,
        arn=arn,
        report_group_arn="arn:aws:codebuild:us-east-1:123456789012:report-group/proj-unit",
        execution_id="arn:aws:codebuild:us-east-1:123456789012:build/proj:42",
        created=created,
        expired=created + timedelta(days=30),
    )
    assert not check(shape("Report"), wire, strict=True).constraints
    assert wire["created"] == created.timestamp()
    assert wire["status"] == "FAILED"
    assert wire["exportConfig"] == {"exportConfigType": "NO_EXPORT"}
    assert wire["testSummary"] == {
        "total": 2,
        "statusCounts": {"SUCCEEDED": 1, "FAILED": 1, "ERROR": 0, "SKIPPED": 0, "UNKNOWN": 0},
        "durationInNanoSeconds": 2_000_000_000,
    }
    assert test_report.summary is not None
    assert not check(shape("TestReportSummary"), summary_to_wire(test_report.summary)).constraints

    cases = [case_to_wire(c, report_arn=arn) for c in test_report.cases]
    for case in cases:
        assert not check(shape("TestCase"), case, strict=True).constraints
    assert cases[1] == {
        "reportArn": arn,
        "testRawDataPath": "r.xml",
        "prefix": "S",
        "name": "b",
        "status": "FAILED",
        "durationInNanoSeconds": 0,
        "testSuiteName": "S",
        "message": "m",
    }
    assert "message" not in cases[0]

    coverage_wire = report_to_wire(
        coverage, arn=arn, report_group_arn="g", execution_id="b", created=created
    )
    assert not check(shape("Report"), coverage_wire, strict=True).constraints
    assert coverage_wire["type"] == "CODE_COVERAGE"
    assert "testSummary" not in coverage_wire


def test_summary_line(tmp_path: Path) -> None:
    write(
        tmp_path,
        "r.xml",
        junit('<testcase name="a" time="0.5"/>', '<testcase name="b"><skipped/></testcase>'),
    )
    assert one(tmp_path, "r.xml").summary_line() == (
        "SUCCEEDED: 2 test cases (1 succeeded, 1 skipped) in 0.50 s"
    )
    assert one(tmp_path, "none.xml").summary_line() == (
        "INCOMPLETE: no report files matched ['none.xml']"
    )
