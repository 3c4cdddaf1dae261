"""The job worker's loop: PollForJobs → AcknowledgeJob → artifacts → command → result.

Only AWS's public API through boto3: this package is the example of an outside system, and
works against Stageline or AWS alike.
"""

from __future__ import annotations

import os
import shlex
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from botocore.exceptions import ClientError

from stageline.job_worker import command
from stageline.job_worker.artifacts import (
    ArtifactError,
    Workspace,
    download_inputs,
    prepare_outputs,
    s3_client,
    upload_outputs,
)
from stageline.job_worker.conventions import (
    ConventionError,
    command_environment,
    failure_message,
    job_environment,
    mask,
    read_token,
    read_variables,
    summary,
)
from stageline.job_worker.protocol import CodePipeline, Fatal, Result, Transient, failed


@dataclass
class Options:
    category: str
    provider: str
    version: str
    command: list[str]
    endpoint_url: str | None = None
    s3_endpoint_url: str | None = None
    region: str | None = None
    query: dict[str, str] = field(default_factory=dict)
    poll_interval: float = 5.0
    max_poll_interval: float = 60.0
    once: bool = False
    workspace_dir: Path | None = None
    stop_grace: float = 10.0

    @property
    def type_id(self) -> dict[str, str]:
        return {
            "category": self.category,
            "owner": "Custom",
            "provider": self.provider,
            "version": self.version,
        }


class JobWorker:
    def __init__(self, options: Options, session: Any, out: IO[str] | None = None) -> None:
        self.options = options
        self.session = session
        self.out = out if out is not None else sys.stdout
        region = options.region or session.region_name
        if not region:
            raise Fatal("no AWS region: set AWS_DEFAULT_REGION (or AWS_REGION) or --region")
        self.region: str = region
        self.cp = CodePipeline(session, region, options.endpoint_url)
        self.stop = threading.Event()
        self.stop_signal: signal.Signals | None = None
        self.interrupted = False

    def say(self, message: str) -> None:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        print(f"{stamp} stageline job-worker: {message}", file=self.out, flush=True)

    def request_stop(self, signum: int) -> None:
        """Called from a signal handler: only flags; the loop says and does the rest."""
        self.stop_signal = signal.Signals(signum)
        self.stop.set()

    # -- the loop ------------------------------------------------------------------------------
    def run(self) -> int:
        """0: stopped cleanly, or (--once) a job handled; 1: fatal error, or (--once) the
        result could not be reported; 128+N: signal N interrupted a running job."""
        query = ", ".join(f"{k}={v}" for k, v in self.options.query.items())
        self.say(
            f"polling {self.cp.endpoint} for {'/'.join(self.options.type_id.values())} jobs"
            + (f" where {query}" if query else "")
            + f"; artifacts through S3 at {self.s3_endpoint()}; command: "
            + shlex.join(self.options.command)
        )
        interval = self.options.poll_interval
        outage = False
        while not self.stop.is_set():
            handled: bool | None = None
            try:
                jobs = self.cp.poll(self.options.type_id, self.options.query)
                if outage:
                    self.say(f"{self.cp.endpoint} answers again")
                    outage = False
                handled = self.handle(jobs[0]) if jobs else None
            except Fatal as exc:
                self.say(f"error: {exc}")
                return 1
            except Transient as exc:
                if not outage:
                    self.say(f"{exc}; retrying with backoff")
                outage = True
                jobs = []
            if not jobs:
                self.stop.wait(interval)
                interval = min(interval * 2, self.options.max_poll_interval)
                continue
            interval = self.options.poll_interval
            if self.interrupted:
                break
            if self.options.once and handled is not None:
                return 0 if handled else 1
        if self.stop_signal is not None:
            self.say(f"stopped ({self.stop_signal.name})")
        if self.interrupted and self.stop_signal is not None:
            return 128 + int(self.stop_signal)
        return 0

    def s3_endpoint(self) -> str:
        """Where artifacts go, as boto3 resolves it (nothing is sent)."""
        probe = self.session.client(
            "s3",
            region_name=self.region,
            endpoint_url=self.options.s3_endpoint_url,
            aws_access_key_id="probe",
            aws_secret_access_key="probe",
        )
        return str(probe.meta.endpoint_url)

    # -- one job -------------------------------------------------------------------------------
    def handle(self, job: dict[str, Any]) -> bool | None:
        """Acknowledge, work, report. None: not ours to run (a stale nonce, taken elsewhere);
        otherwise whether CodePipeline took the result."""
        job_id = str(job["id"])
        data = job.get("data") or {}
        context = data.get("pipelineContext") or {}
        where = ".".join(
            str(part)
            for part in (
                context.get("pipelineName"),
                (context.get("stage") or {}).get("name"),
                (context.get("action") or {}).get("name"),
            )
        )
        self.say(
            f"job {job_id}: {where}, execution {context.get('pipelineExecutionId')}"
            + (" (continues an earlier job)" if data.get("continuationToken") else "")
        )
        try:
            status = self.cp.acknowledge(job_id, str(job.get("nonce") or ""))
        except (ClientError, Transient) as exc:
            self.say(f"job {job_id}: not acknowledged, skipped: {exc}")
            return None
        if status != "InProgress":
            self.say(f"job {job_id}: is {status}, skipped")
            return None
        workspace: Workspace | None = None
        try:
            workspace = Workspace.create(self.options.workspace_dir, job_id)
            result = self.work(job, workspace)
        except Exception as exc:  # an acknowledged job always gets an answer
            self.say(f"job {job_id}: worker error: {type(exc).__name__}: {exc}")
            result = failed("JobFailed", f"Stageline job worker error: {exc}", job_id)
        finally:
            if workspace is not None:
                workspace.remove()
        taken = self.cp.report(result, self.say)
        if taken:
            self.say(f"job {job_id}: {result.verdict}")
        return taken

    def work(self, job: dict[str, Any], workspace: Workspace) -> Result:
        job_id = str(job["id"])
        data = job.get("data") or {}
        outputs = list(data.get("outputArtifacts") or [])
        paths = {
            "input_dir": workspace.input_dir,
            "source_dir": workspace.input_dir,
            "output_dir": workspace.output_dir,
            "variables_file": workspace.variables_file,
            "token_file": workspace.token_file,
        }
        try:
            env = job_environment(job, paths)
        except ConventionError as exc:
            return failed("ConfigurationError", str(exc), job_id)
        try:
            credentials = data.get("artifactCredentials") or {}
            s3 = s3_client(self.session, credentials, self.region, self.options.s3_endpoint_url)
            cwd = download_inputs(s3, list(data.get("inputArtifacts") or []), workspace)
            prepare_outputs(outputs, workspace)
        except ArtifactError as exc:
            return failed("JobFailed", f"Stageline job worker: {exc}", job_id)
        env["STAGELINE_SOURCE_DIR"] = str(cwd)
        if self.stop.is_set():
            self.interrupted = True
            return failed("JobFailed", self.stopped("before the command started"), job_id)
        secrets = self.secrets(data)
        self.say(f"job {job_id}: running the command in {cwd}")
        outcome = command.run(
            self.options.command,
            cwd=cwd,
            env=command_environment(os.environ, env),
            prefix=f"[job {job_id[:8]}]",
            should_stop=self.stop.wait,
            masker=lambda line: mask(line, secrets),
            out=self.out,
            grace=self.options.stop_grace,
        )
        if outcome.stopped:
            self.interrupted = True
            message = self.stopped("while the command ran; the command was terminated")
            return failed("JobFailed", failure_message(message, outcome.tail), job_id)
        if not outcome.succeeded:
            return failed("JobFailed", failure_message(outcome.describe(), outcome.tail), job_id)
        return self.finish(job_id, outputs, workspace, s3, data.get("encryptionKey"))

    def finish(
        self,
        job_id: str,
        outputs: list[dict[str, Any]],
        workspace: Workspace,
        s3: Any,
        encryption_key: dict[str, Any] | None,
    ) -> Result:
        try:
            token = read_token(workspace.token_file)
            variables = read_variables(workspace.variables_file)
        except ConventionError as exc:
            return failed("JobFailed", f"The command succeeded, but its {exc}.", job_id)
        name = Path(self.options.command[0]).name
        if token is not None:
            if variables:
                self.say(f"job {job_id}: output variables are reported with the last job only")
            details = {
                "summary": summary(f"{name} is still working"),
                "externalExecutionId": job_id,
            }
            return Result(
                {"jobId": job_id, "continuationToken": token, "executionDetails": details}
            )
        try:
            uploaded = upload_outputs(s3, outputs, workspace, encryption_key)
        except ArtifactError as exc:
            return failed("JobFailed", f"Stageline job worker: {exc}", job_id)
        for line in uploaded:
            self.say(f"job {job_id}: output artifact {line}")
        arguments: dict[str, Any] = {
            "jobId": job_id,
            "executionDetails": {
                "summary": summary(f"{name} succeeded"),
                "externalExecutionId": job_id,
                "percentComplete": 100,
            },
        }
        if variables:
            arguments["outputVariables"] = variables
            self.say(f"job {job_id}: output variables {', '.join(sorted(variables))}")
        return Result(arguments)

    def stopped(self, when: str) -> str:
        name = self.stop_signal.name if self.stop_signal is not None else "a signal"
        return f"The job worker was stopped ({name}) {when}."

    def secrets(self, data: dict[str, Any]) -> list[str]:
        """Values of the configuration properties marked secret, to mask in the output. Best
        effort: without ListActionTypes' answer nothing is masked, and the worker says so."""
        configuration = (data.get("actionConfiguration") or {}).get("configuration") or {}
        try:
            names = self.cp.secret_names(self.options.type_id)
        except Exception as exc:
            self.say(f"warning: ListActionTypes failed ({type(exc).__name__}); nothing masked")
            return []
        return [str(configuration[n]) for n in names if n in configuration]
