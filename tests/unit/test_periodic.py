"""PeriodicThread: the loop behind the reconciler, source polling and event delivery."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import pytest

from stageline.services.periodic import PeriodicThread

log = logging.getLogger("tests.periodic")


def wait_until(check: Callable[[], bool], timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_passes_repeat_and_a_failing_pass_does_not_end_the_loop(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[int] = []

    def step() -> None:
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("database away")

    thread = PeriodicThread("source-polling", step, 0.01, log)
    with caplog.at_level(logging.WARNING, logger="tests.periodic"):
        thread.start()
        wait_until(lambda: len(calls) >= 4)
        thread.stop()
    assert not thread._thread.is_alive()
    assert [r.getMessage() for r in caplog.records] == ["source polling pass failed"]
    stopped_at = len(calls)
    time.sleep(0.05)
    assert len(calls) == stopped_at  # no pass after stop


def test_no_pass_before_the_first_interval() -> None:
    calls: list[int] = []
    thread = PeriodicThread("reconciler", lambda: calls.append(1), 60, log)
    thread.start()
    time.sleep(0.05)
    started = time.monotonic()
    thread.stop()  # wakes the wait at once rather than after the interval
    assert time.monotonic() - started < 1
    assert calls == []


def test_wake_runs_a_pass_at_once_and_stop_wakes_the_thread() -> None:
    wake = threading.Event()
    calls: list[int] = []
    thread = PeriodicThread("event-delivery", lambda: calls.append(1), 60, log, wake=wake)
    thread.start()
    wake.set()
    wait_until(lambda: calls == [1])
    started = time.monotonic()
    thread.stop()
    assert time.monotonic() - started < 1
    assert not thread._thread.is_alive()
    assert calls == [1]  # stopping does not run one more pass
