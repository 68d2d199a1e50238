"""sd_notify over a real AF_UNIX datagram socket, as systemd provides it in $NOTIFY_SOCKET."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from slawatch.runtime.sdnotify import Notifier, Watchdog, monotonic_usec, watchdog_interval_s


class Receiver:
    """The systemd side: a bound datagram socket that collects messages."""

    def __init__(self, address: str | bytes) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(address)
        self.sock.settimeout(2)

    def recv(self) -> dict[str, str]:
        data = self.sock.recv(4096).decode()
        return dict(line.split("=", 1) for line in data.split("\n"))

    def nothing_pending(self) -> bool:
        self.sock.settimeout(0.05)
        try:
            self.sock.recv(4096)
        except TimeoutError:
            return True
        finally:
            self.sock.settimeout(2)
        return False

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def path_socket() -> Iterator[tuple[str, Receiver]]:
    # AF_UNIX paths are limited to 108 bytes: pytest's tmp_path can be longer.
    directory = tempfile.mkdtemp(prefix="sdn-")
    path = os.path.join(directory, "notify")
    receiver = Receiver(path)
    yield path, receiver
    receiver.close()
    os.unlink(path)
    os.rmdir(directory)


@pytest.fixture
def abstract_socket() -> Iterator[tuple[str, Receiver]]:
    name = f"slawatch-test-{os.getpid()}-{time.monotonic_ns()}"
    receiver = Receiver(b"\0" + name.encode())
    yield "@" + name, receiver
    receiver.close()


def test_ready_and_status_reach_a_path_socket(path_socket: tuple[str, Receiver]) -> None:
    address, receiver = path_socket
    notifier = Notifier(environ={"NOTIFY_SOCKET": address})
    assert notifier.enabled
    assert notifier.ready(status="3 open, 1 breached,\noutbox 0")
    assert receiver.recv() == {"READY": "1", "STATUS": "3 open, 1 breached, outbox 0"}
    assert notifier.status("scanning")
    assert receiver.recv() == {"STATUS": "scanning"}


def test_abstract_socket_with_at_sign(abstract_socket: tuple[str, Receiver]) -> None:
    address, receiver = abstract_socket
    notifier = Notifier(environ={"NOTIFY_SOCKET": address})
    assert notifier.watchdog()
    assert receiver.recv() == {"WATCHDOG": "1"}
    assert notifier.stopping()
    assert receiver.recv() == {"STOPPING": "1"}


def test_reloading_carries_monotonic_usec(path_socket: tuple[str, Receiver]) -> None:
    address, receiver = path_socket
    notifier = Notifier(address)
    before = monotonic_usec()
    assert notifier.reloading()
    message = receiver.recv()
    after = monotonic_usec()
    assert message["RELOADING"] == "1"
    assert before <= int(message["MONOTONIC_USEC"]) <= after
    # systemd's CLOCK_MONOTONIC, not time.time(): it is far smaller than the epoch in usec.
    assert int(message["MONOTONIC_USEC"]) < time.time() * 1_000_000 / 2


def test_without_notify_socket_everything_is_a_no_op() -> None:
    notifier = Notifier(environ={})
    assert not notifier.enabled
    assert not notifier.ready()
    assert not notifier.watchdog()


def test_a_vanished_socket_is_not_an_error() -> None:
    notifier = Notifier("/nonexistent/slawatch/notify")
    assert notifier.enabled
    assert notifier.ready() is False


def test_watchdog_interval_from_environment() -> None:
    pid = str(os.getpid())
    assert watchdog_interval_s({"WATCHDOG_USEC": "30000000"}) == 30.0
    assert watchdog_interval_s({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": pid}) == 30.0
    # Meant for another process (we inherited the environment): not ours to ping.
    assert watchdog_interval_s({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}) is None
    assert watchdog_interval_s({}) is None
    assert watchdog_interval_s({"WATCHDOG_USEC": "0"}) is None
    assert watchdog_interval_s({"WATCHDOG_USEC": "soon"}) is None


def test_watchdog_pings_only_while_jobs_progress(path_socket: tuple[str, Receiver]) -> None:
    address, receiver = path_socket
    now = [100.0]
    dog = Watchdog(Notifier(address), interval_s=10, clock=lambda: now[0])
    assert dog.ping()  # start-up counts as progress
    assert receiver.recv() == {"WATCHDOG": "1"}
    now[0] = 109.0
    assert dog.ping()
    assert receiver.recv() == {"WATCHDOG": "1"}
    now[0] = 111.0  # the scan has not finished for 11 s: stuck
    assert not dog.ping()
    assert receiver.nothing_pending()
    dog.progress()  # the scan completes
    now[0] = 115.0
    assert dog.ping()
    assert receiver.recv() == {"WATCHDOG": "1"}
    assert (dog.pings_sent, dog.pings_skipped) == (3, 1)


def test_watchdog_thread_stops_pinging_when_progress_stops(
    path_socket: tuple[str, Receiver],
) -> None:
    address, receiver = path_socket
    dog = Watchdog(Notifier(address), interval_s=0.2, stale_after_s=0.3)
    dog.start()
    try:
        assert receiver.recv() == {"WATCHDOG": "1"}
        deadline = time.monotonic() + 0.6
        while time.monotonic() < deadline:
            dog.progress()
            time.sleep(0.02)
        sent_while_progressing = dog.pings_sent
        assert sent_while_progressing >= 4
        time.sleep(0.6)  # no progress: pings stop
        assert dog.pings_skipped >= 2
        settled = dog.pings_sent
        time.sleep(0.3)
        assert dog.pings_sent == settled
    finally:
        dog.stop()


def test_from_environment_needs_socket_and_interval(path_socket: tuple[str, Receiver]) -> None:
    address, _ = path_socket
    env = {"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "2000000", "WATCHDOG_PID": str(os.getpid())}
    dog = Watchdog.from_environment(Notifier(environ=env), env)
    assert dog is not None and dog.interval_s == 2.0
    assert Watchdog.from_environment(Notifier(environ={}), env) is None
    assert Watchdog.from_environment(Notifier(environ=env), {"NOTIFY_SOCKET": address}) is None


def test_a_subprocess_notifies_through_inherited_notify_socket(
    path_socket: tuple[str, Receiver],
) -> None:
    """The way systemd runs the daemon: the socket path arrives in the child's environment."""
    address, receiver = path_socket
    code = (
        "from slawatch.runtime.sdnotify import Notifier\n"
        "n = Notifier()\n"
        "n.ready(status='ready')\n"
        "n.reloading()\n"
        "n.stopping()\n"
    )
    env = {**os.environ, "NOTIFY_SOCKET": address}
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=30)
    assert receiver.recv() == {"READY": "1", "STATUS": "ready"}
    assert receiver.recv()["RELOADING"] == "1"
    assert receiver.recv() == {"STOPPING": "1"}
    assert Path(address).exists()
