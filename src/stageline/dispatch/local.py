"""The in-process executor of `stageline serve` without a broker: a thread pool runs action
attempts and standalone builds; delayed dispatches (continuations) wait on timers. Same runner, same leases, same
reconciler as with Celery — only the transport differs."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

log = logging.getLogger("stageline.local")


class LocalDispatcher:
    def __init__(self, workers: int) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="action")
        self._run: Callable[[str], object] | None = None
        self._run_build: Callable[[str], object] | None = None
        self._closed = False

    def bind(self, run: Callable[[str], object], run_build: Callable[[str], object]) -> None:
        """The runners are built after the dispatcher (they dispatch too); bind them here."""
        self._run, self._run_build = run, run_build

    def dispatch_action(self, action_execution_id: str, *, delay_seconds: float = 0.0) -> None:
        if self._closed:
            return  # shutting down: the reconciler of the next start picks it up
        if delay_seconds > 0:
            timer = threading.Timer(delay_seconds, self.dispatch_action, [action_execution_id])
            timer.daemon = True
            timer.start()
            return
        self._pool.submit(self._safe_run, action_execution_id)

    def dispatch_build(self, build_id: str) -> None:
        if not self._closed:
            self._pool.submit(self._safe_run_build, build_id)

    def _safe_run_build(self, build_id: str) -> None:
        assert self._run_build is not None, "LocalDispatcher.bind() was not called"
        try:
            self._run_build(build_id)
        except Exception:
            log.exception("running build %s failed", build_id)

    def _safe_run(self, action_execution_id: str) -> None:
        assert self._run is not None, "LocalDispatcher.bind() was not called"
        try:
            self._run(action_execution_id)
        except Exception:
            log.exception("running action %s failed", action_execution_id)

    def close(self) -> None:
        self._closed = True
        self._pool.shutdown(wait=False, cancel_futures=True)
