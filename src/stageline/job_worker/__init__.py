"""`stageline job-worker`: a reference CodePipeline job worker for custom actions.

It uses nothing of Stageline but its safe zip helpers: only AWS's public API through boto3
(PollForJobs, AcknowledgeJob, PutJobSuccessResult, PutJobFailureResult, ListActionTypes, and
S3 GetObject/PutObject with each job's artifactCredentials), so it runs against Stageline or
AWS alike and doubles as the example of integrating an outside system. docs/custom-actions.md
describes its conventions; conventions.py holds them in code.

Modules: cli (arguments), worker (the loop and one job), protocol (CodePipeline calls and
their errors), artifacts (workspace, S3 transfers, zips), command (running and streaming the
command), conventions (environment, output variables, continuation tokens: pure).
"""

from stageline.job_worker.cli import add_parser, cmd_job_worker

__all__ = ["add_parser", "cmd_job_worker"]
