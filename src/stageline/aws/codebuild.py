"""CodeBuild operations (X-Amz-Target CodeBuild_20161006.*): projects, builds, test reports.

Thin handlers, as for CodePipeline: open a unit of work, call a service, shape the answer.
Operations not listed here answer NotImplemented (see docs/compatibility.md). Empty lists
are left out, as CodeBuild leaves them out (its model says they have at least one member).
"""

from __future__ import annotations

from typing import Any

from stageline.aws.router import AwsCall, AwsService, Handler
from stageline.identity import Principal
from stageline.runtime import Runtime
from stageline.services.build_projects import ProjectService
from stageline.services.build_reports import ReportService
from stageline.services.build_views import build_view
from stageline.services.builds import BuildService

Output = dict[str, Any] | None


def initiator(principal: Principal) -> str:
    """Who started a build, as CodeBuild names an IAM user or role: the ARN's last part."""
    return principal.arn.rsplit("/", 1)[-1].rsplit(":", 1)[-1]


def create_project(rt: Runtime, call: AwsCall) -> Output:
    with rt.db.unit_of_work() as uow:
        return {"project": ProjectService(uow.session, rt.arns).create(call.params)}


def update_project(rt: Runtime, call: AwsCall) -> Output:
    with rt.db.unit_of_work() as uow:
        return {"project": ProjectService(uow.session, rt.arns).update(call.params)}


def delete_project(rt: Runtime, call: AwsCall) -> Output:
    with rt.db.unit_of_work() as uow:
        ProjectService(uow.session, rt.arns).delete(call.params["name"])
    return None


def batch_get_projects(rt: Runtime, call: AwsCall) -> Output:
    with rt.db.unit_of_work(write=False) as uow:
        found, missing = ProjectService(uow.session, rt.arns).batch_get(call.params["names"])
    return {"projects": found, "projectsNotFound": missing or None}


def list_projects(rt: Runtime, call: AwsCall) -> Output:
    p = call.params
    with rt.db.unit_of_work(write=False) as uow:
        names, token = ProjectService(uow.session, rt.arns).list(
            p.get("sortBy"), p.get("sortOrder"), p.get("nextToken")
        )
    return {"projects": names or None, "nextToken": token}


def start_build(rt: Runtime, call: AwsCall) -> Output:
    with rt.db.unit_of_work() as uow:
        build = BuildService(uow, rt.arns).start(
            call.params, initiator(call.principal), rt.dispatcher
        )
        return {"build": build_view(build, rt.arns, rt.settings.public_url)}


def stop_build(rt: Runtime, call: AwsCall) -> Output:
    with rt.db.unit_of_work() as uow:
        build = BuildService(uow, rt.arns).stop(call.params["id"])
        return {"build": build_view(build, rt.arns, rt.settings.public_url)}


def batch_get_builds(rt: Runtime, call: AwsCall) -> Output:
    with rt.db.unit_of_work(write=False) as uow:
        found, missing = BuildService(uow, rt.arns).batch_get(call.params["ids"])
        views = [build_view(b, rt.arns, rt.settings.public_url) for b in found]
    return {"builds": views, "buildsNotFound": missing or None}


def list_builds(rt: Runtime, call: AwsCall) -> Output:
    p = call.params
    with rt.db.unit_of_work(write=False) as uow:
        ids, token = BuildService(uow, rt.arns).list(None, p.get("sortOrder"), p.get("nextToken"))
    return {"ids": ids or None, "nextToken": token}


def list_builds_for_project(rt: Runtime, call: AwsCall) -> Output:
    p = call.params
    with rt.db.unit_of_work(write=False) as uow:
        ids, token = BuildService(uow, rt.arns).list(
            p["projectName"], p.get("sortOrder"), p.get("nextToken")
        )
    return {"ids": ids or None, "nextToken": token}


def batch_get_reports(rt: Runtime, call: AwsCall) -> Output:
    with rt.db.unit_of_work(write=False) as uow:
        found, missing = ReportService(uow.session, rt.arns).batch_get(call.params["reportArns"])
    return {"reports": found, "reportsNotFound": missing or None}


def describe_test_cases(rt: Runtime, call: AwsCall) -> Output:
    p = call.params
    with rt.db.unit_of_work(write=False) as uow:
        cases, token = ReportService(uow.session, rt.arns).test_cases(
            p["reportArn"], p.get("filter"), p.get("maxResults"), p.get("nextToken")
        )
    return {"testCases": cases, "nextToken": token}


def list_reports(rt: Runtime, call: AwsCall) -> Output:
    return _reports(rt, call, None)


def list_reports_for_report_group(rt: Runtime, call: AwsCall) -> Output:
    return _reports(rt, call, call.params["reportGroupArn"])


def _reports(rt: Runtime, call: AwsCall, group: str | None) -> Output:
    p = call.params
    with rt.db.unit_of_work(write=False) as uow:
        arns, token = ReportService(uow.session, rt.arns).list(
            group, p.get("sortOrder"), p.get("filter"), p.get("maxResults"), p.get("nextToken")
        )
    return {"reports": arns or None, "nextToken": token}


HANDLERS: dict[str, Handler] = {
    "CreateProject": create_project,
    "UpdateProject": update_project,
    "DeleteProject": delete_project,
    "BatchGetProjects": batch_get_projects,
    "ListProjects": list_projects,
    "StartBuild": start_build,
    "StopBuild": stop_build,
    "BatchGetBuilds": batch_get_builds,
    "ListBuilds": list_builds,
    "ListBuildsForProject": list_builds_for_project,
    "BatchGetReports": batch_get_reports,
    "DescribeTestCases": describe_test_cases,
    "ListReports": list_reports,
    "ListReportsForReportGroup": list_reports_for_report_group,
}

SERVICE = AwsService(name="codebuild", handlers=HANDLERS)
