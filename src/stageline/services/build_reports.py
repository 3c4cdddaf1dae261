"""Test reports of builds: BatchGetReports, DescribeTestCases, ListReports(ForReportGroup)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from stageline.domain.arns import Arns
from stageline.domain.errors import InvalidInputException, ResourceNotFoundException
from stageline.persistence.models import Build, BuildReport
from stageline.services.build_projects import page_offset
from stageline.services.build_views import report_view
from stageline.services.pagination import encode_token

DEFAULT_PAGE = 100
T = TypeVar("T")


class ReportService:
    def __init__(self, session: Session, arns: Arns) -> None:
        self.session, self.arns = session, arns

    def batch_get(self, arns: Sequence[str]) -> tuple[list[dict[str, Any]], list[str]]:
        found: list[dict[str, Any]] = []
        missing: list[str] = []
        for arn in arns:
            row = self._find(arn)
            if row is None:
                missing.append(arn)
            else:
                found.append(report_view(row, self.arns, self._build_id(row)))
        return found, missing

    def test_cases(
        self,
        report_arn: str,
        flt: dict[str, Any] | None,
        max_results: int | None,
        token: str | None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        row = self._find(report_arn)
        if row is None:
            raise ResourceNotFoundException(f"Report not found: {report_arn}")
        cases = [{**c, "reportArn": row.arn} for c in row.test_cases if _matches(c, flt or {})]
        return _page(cases, f"cases:{row.arn}", max_results, token)

    def list(
        self,
        group_arn: str | None,
        sort_order: str | None,
        flt: dict[str, Any] | None,
        max_results: int | None,
        token: str | None,
    ) -> tuple[list[str], str | None]:
        query = select(BuildReport.arn, BuildReport.status)
        if group_arn is not None:
            if self.session.scalar(query.where(BuildReport.report_group_arn == group_arn)) is None:
                raise ResourceNotFoundException(f"Report group not found: {group_arn}")
            query = query.where(BuildReport.report_group_arn == group_arn)
        order = BuildReport.pk.asc() if sort_order == "ASCENDING" else BuildReport.pk.desc()
        wanted = (flt or {}).get("status")
        arns = [
            r.arn for r in self.session.execute(query.order_by(order)) if wanted in (None, r.status)
        ]
        return _page(arns, f"reports:{group_arn or ''}", max_results, token)

    def _find(self, arn: str) -> BuildReport | None:
        return self.session.scalar(select(BuildReport).where(BuildReport.arn == arn))

    def _build_id(self, row: BuildReport) -> str:
        return self.session.scalar(select(Build.build_id).where(Build.pk == row.build_pk)) or ""


def _matches(case: dict[str, Any], flt: dict[str, Any]) -> bool:
    if flt.get("status") and case.get("status") != flt["status"]:
        return False
    keyword = flt.get("keyword")
    return not keyword or keyword in f"{case.get('prefix', '')} {case.get('name', '')}"


def _page(
    items: list[T], kind: str, max_results: int | None, token: str | None
) -> tuple[list[T], str | None]:
    size = max_results or DEFAULT_PAGE
    if size < 1:
        raise InvalidInputException("maxResults must be at least 1.")
    offset = page_offset(kind, token)
    more = len(items) > offset + size
    return items[offset : offset + size], encode_token(kind, {"o": offset + size}) if more else None
