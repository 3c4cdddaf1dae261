"""The build runner: buildspec.yml (version 0.2) run in an isolated workspace, CodeBuild's way.

No database here: the services feed a build in (workspace, environment, buildspec) and record
what comes out (phases, exported variables, artifacts, reports).
"""
