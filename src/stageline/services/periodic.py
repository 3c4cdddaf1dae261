"""A background pass repeated in a daemon thread of a serve or worker process: the
reconciler, source polling and event delivery all run this way."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable


class PeriodicThread:
    """Calls `step` every `interval` seconds until stopped. With `wake`, a pass also runs as
    soon as the event is set (work this process just committed) instead of at the next tick.
    A failing pass is logged and the next one retries: the database may be briefly away."""

    def __init__(
        self,
        name: str,
        step: Callable[[], object],
        interval: float,
        log: logging.Logger,
        *,
        wake: threading.Event | None = None,
        join_timeout: float = 10,
    ) -> None:
        self.name, self.step, self.interval, self.log = name, step, interval, log
        self._wake, self._join_timeout = wake, join_timeout
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name=name)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._wake is not None:
            self._wake.set()
        self._thread.join(timeout=self._join_timeout)

    def _loop(self) -> None:
        while not self._pause():
            try:
                self.step()
            except Exception:
                self.log.warning("%s pass failed", self.name.replace("-", " "), exc_info=True)

    def _pause(self) -> bool:
        """Wait for the next pass; True once stopped."""
        if self._wake is None:
            return self._stop.wait(self.interval)
        self._wake.wait(self.interval)
        self._wake.clear()
        return self._stop.is_set()
