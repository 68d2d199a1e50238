"""Drive the real ``slawatch run`` process: start it, read its log, talk to its API, play systemd.

Every wait is a poll with a deadline; nothing sleeps for a fixed time where a poll works. The
process is started with ``sys.executable -m slawatch`` in a temporary directory (so the default
SQLite database is ``<tmp>/var/slawatch.db``), ``STATE_DIRECTORY`` and the systemd variables
removed from its environment, and stdout/stderr read by background threads.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

#: Variables the daemon must not inherit from the test runner's environment.
SCRUB = (
    "STATE_DIRECTORY",
    "CONFIGURATION_DIRECTORY",
    "CREDENTIALS_DIRECTORY",
    "NOTIFY_SOCKET",
    "WATCHDOG_USEC",
    "WATCHDOG_PID",
    "SLAWATCH_CONFIG",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def poll(what: str, check: Callable[[], T | None], timeout_s: float, interval_s: float = 0.02) -> T:
    """Call ``check`` until it returns something truthy; fail naming ``what`` at the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(interval_s)


@dataclass
class Datagram:
    at: float  # time.monotonic() when received
    fields: dict[str, str]


class NotifySocket:
    """The receiving end of ``$NOTIFY_SOCKET``: a bound AF_UNIX datagram socket, as systemd's."""

    def __init__(self) -> None:
        self._dir = tempfile.mkdtemp(prefix="sdn-")  # short: AF_UNIX paths max 108 bytes
        self.path = os.path.join(self._dir, "notify")
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(self.path)
        self._sock.settimeout(0.1)
        self.messages: list[Datagram] = []
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._closed.is_set():
            try:
                data = self._sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            text = data.decode("utf-8", "replace")
            fields = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
            with self._lock:
                self.messages.append(Datagram(time.monotonic(), fields))

    def since(self, index: int = 0) -> list[Datagram]:
        with self._lock:
            return list(self.messages[index:])

    def mark(self) -> int:
        with self._lock:
            return len(self.messages)

    def wait_for(
        self,
        key: str,
        value: str | None = None,
        *,
        after: int = 0,
        timeout_s: float = 30,
        guard: Callable[[str], None] | None = None,
    ) -> Datagram:
        """The first message since index ``after`` carrying ``key`` (``=value``); ``guard`` is
        called on each poll (e.g. to fail at once when the daemon died)."""
        what = f"{key}={value or '*'} on NOTIFY_SOCKET"

        def found() -> Datagram | None:
            if guard is not None:
                guard(what)
            for message in self.since(after):
                if key in message.fields and (value is None or message.fields[key] == value):
                    return message
            return None

        return poll(what, found, timeout_s)

    def close(self) -> None:
        self._closed.set()
        self._sock.close()
        shutil.rmtree(self._dir, ignore_errors=True)


@dataclass
class LogLine:
    at: float
    text: str
    data: dict[str, Any] = field(default_factory=dict)


class Daemon:
    """One ``slawatch run`` process (start it again after a kill with :meth:`start`)."""

    def __init__(
        self,
        workdir: Path,
        config: Path,
        *,
        environ: Mapping[str, str],
        api_port: int | None = None,
        args: tuple[str, ...] = (),
    ) -> None:
        self.workdir = workdir
        self.config = config
        self.api_port = api_port
        self.args = args
        env = {k: v for k, v in os.environ.items() if k not in SCRUB}
        env.update(environ)
        env["PYTHONUNBUFFERED"] = "1"
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        self.stdout: list[LogLine] = []
        self.stderr: list[str] = []
        self._lock = threading.Lock()

    # ------------------------------------------------------------------------ process
    def start(self) -> Daemon:
        cmd = [sys.executable, "-m", "slawatch", "run", "--config", str(self.config), *self.args]
        self.started_at = time.monotonic()
        self.proc = subprocess.Popen(
            cmd,
            cwd=self.workdir,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert self.proc.stdout is not None and self.proc.stderr is not None
        threading.Thread(target=self._pump_out, args=(self.proc.stdout,), daemon=True).start()
        threading.Thread(target=self._pump_err, args=(self.proc.stderr,), daemon=True).start()
        return self

    def _pump_out(self, stream: Any) -> None:
        for raw in iter(stream.readline, b""):
            text = raw.decode("utf-8", "replace").rstrip("\n")
            data: dict[str, Any] = {}
            if text.startswith("{"):
                with contextlib.suppress(ValueError):
                    data = json.loads(text)
            with self._lock:
                self.stdout.append(LogLine(time.monotonic(), text, data))

    def _pump_err(self, stream: Any) -> None:
        for raw in iter(stream.readline, b""):
            with self._lock:
                self.stderr.append(raw.decode("utf-8", "replace").rstrip("\n"))

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, signum: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)

    def kill(self) -> None:
        """SIGKILL and reap."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, timeout_s: float = 15) -> int | None:
        """SIGTERM, then SIGKILL if it does not exit in time (cleanup)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.proc.returncode

    # ------------------------------------------------------------------------------ log
    def log_mark(self) -> int:
        with self._lock:
            return len(self.stdout)

    def events(self, name: str, after: int = 0) -> list[LogLine]:
        with self._lock:
            lines = list(self.stdout[after:])
        return [line for line in lines if line.data.get("event") == name]

    def wait_event(self, name: str, *, after: int = 0, timeout_s: float = 30) -> LogLine:
        def found() -> LogLine | None:
            self.check_alive(f"log event {name}")
            hits = self.events(name, after)
            return hits[0] if hits else None

        return poll(f"log event {name!r}", found, timeout_s)

    def output(self) -> str:
        with self._lock:
            return "\n".join(line.text for line in self.stdout)

    def wait_output(self, needle: str, *, timeout_s: float) -> LogLine:
        def found() -> LogLine | None:
            self.check_alive(repr(needle))
            with self._lock:
                return next((line for line in self.stdout if needle in line.text), None)

        return poll(f"output containing {needle!r}", found, timeout_s)

    def check_alive(self, waiting_for: str) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            with self._lock:
                err = "\n".join(self.stderr[-20:])
            raise AssertionError(
                f"slawatch exited with {self.proc.returncode} while waiting for {waiting_for}:\n"
                f"{err}\n{self.output()[-3000:]}"
            )

    # ------------------------------------------------------------------------------ API
    def url(self, path: str) -> str:
        assert self.api_port is not None
        return f"http://127.0.0.1:{self.api_port}{path}"

    def request(
        self, method: str, path: str, body: Any = None, token: str | None = None
    ) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url(path), data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if token is not None:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    def healthy(self) -> bool:
        try:
            status, body = self.request("GET", "/healthz")
        except (OSError, ValueError):
            return False
        return status == 200 and body.get("status") == "ok"

    def wait_healthy(self, timeout_s: float = 45) -> float:
        """Poll ``GET /healthz``; return the seconds since the process started."""

        def check() -> bool:
            self.check_alive("/healthz")
            return self.healthy()

        poll("GET /healthz = 200", check, timeout_s, interval_s=0.05)
        return time.monotonic() - self.started_at
