"""runtime.timer: the real APScheduler BackgroundScheduler running plain callables."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest

from slawatch.runtime.timer import Timer


def wait_until(predicate: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.005)


class Probe:
    """A job that counts its runs and concurrent instances, and can be held at a gate."""

    def __init__(self) -> None:
        self.runs = 0
        self.active = 0
        self.max_active = 0
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()
        self.lock = threading.Lock()
        self.hold_s = 0.0

    def __call__(self) -> None:
        with self.lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        self.entered.set()
        try:
            self.gate.wait(10)
            if self.hold_s:
                time.sleep(self.hold_s)
        finally:
            with self.lock:
                self.active -= 1
                self.runs += 1


@pytest.fixture
def timer() -> Iterator[Timer]:
    t = Timer(misfire_grace=timedelta(seconds=30))
    yield t
    t.shutdown(wait=True)


def test_first_run_is_immediate_then_every_interval(timer: Timer) -> None:
    probe = Probe()
    timer.every("job", probe, timedelta(seconds=0.2))
    started = time.monotonic()
    timer.start()
    wait_until(lambda: probe.runs >= 1, 2)
    assert time.monotonic() - started < 2.0
    wait_until(lambda: probe.runs >= 3, 3)
    assert timer.last_success("job") is not None


def test_a_wake_while_running_reruns_once(timer: Timer) -> None:
    probe = Probe()
    timer.every("job", probe, timedelta(hours=1))
    probe.gate.clear()
    timer.start()
    assert probe.entered.wait(5)
    assert timer.is_busy()
    for _ in range(5):  # several wakes while running coalesce into one rerun
        timer.wake("job")
    probe.entered.clear()
    probe.gate.set()
    wait_until(lambda: probe.runs == 2)
    time.sleep(0.3)
    assert probe.runs == 2
    assert probe.max_active == 1
    wait_until(lambda: not timer.is_busy())


def test_a_wake_when_idle_runs_at_once(timer: Timer) -> None:
    probe = Probe()
    timer.every("job", probe, timedelta(hours=1), start_now=False)
    timer.start()
    time.sleep(0.2)
    assert probe.runs == 0
    woken = time.monotonic()
    timer.wake("job")
    wait_until(lambda: probe.runs == 1, 2)
    assert time.monotonic() - woken < 2.0
    timer.wake("unknown-job")  # ignored


def test_never_two_instances_of_one_job(timer: Timer) -> None:
    probe = Probe()
    probe.hold_s = 0.3
    timer.every("job", probe, timedelta(seconds=0.1))  # fires faster than the job runs
    timer.start()
    for _ in range(10):
        timer.wake("job")
        time.sleep(0.05)
    wait_until(lambda: probe.runs >= 3, 5)
    assert probe.max_active == 1


def test_a_failing_job_does_not_stop_the_timer(timer: Timer) -> None:
    calls: list[int] = []

    def flaky() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("boom")

    timer.every("flaky", flaky, timedelta(seconds=0.1))
    timer.start()
    wait_until(lambda: len(calls) >= 3)
    assert timer.last_success("flaky") is not None


def test_daily_job_runs_once_at_start(timer: Timer) -> None:
    probe = Probe()
    timer.daily("daily", probe, hour=3, minute=0, timezone="Europe/Sofia")
    timer.start()
    wait_until(lambda: probe.runs == 1, 3)
    time.sleep(0.2)
    assert probe.runs == 1


def test_shutdown_waits_for_the_running_job(timer: Timer) -> None:
    probe = Probe()
    probe.hold_s = 0.3
    timer.every("job", probe, timedelta(hours=1))
    timer.start()
    assert probe.entered.wait(5)
    timer.shutdown(wait=True)
    assert probe.runs == 1 and probe.active == 0
    assert not timer.running
