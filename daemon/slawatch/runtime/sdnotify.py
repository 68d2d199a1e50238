"""The sd_notify protocol, spoken directly: readiness, status, watchdog, stopping, reloading.

systemd gives a ``Type=notify`` service the path of a datagram socket in ``$NOTIFY_SOCKET``
(a filesystem path, or an abstract socket written with a leading ``@``). A message is one
datagram of ``KEY=VALUE`` lines. No libsystemd is needed, and outside systemd (no
``$NOTIFY_SOCKET``) every call is a cheap no-op that returns ``False``.

What a caller must know:

* Send ``ready()`` only once the database is migrated and the scheduler runs.
* With ``Type=notify`` (systemd < 253 has no ``notify-reload``), ``reloading()`` puts the unit in
  the "reloading" state until the next ``ready()``: always call ``ready()`` after a reload, also
  when the new configuration was refused.
* :class:`Watchdog` pings only while the runtime reports progress, so a stuck scan makes systemd
  restart the service instead of being kept alive by a healthy timer thread.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Mapping

__all__ = ["Notifier", "Watchdog", "monotonic_usec", "watchdog_interval_s"]


def monotonic_usec() -> int:
    """CLOCK_MONOTONIC in microseconds, the clock systemd expects in ``MONOTONIC_USEC=``."""
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000


def _socket_address(value: str) -> str | bytes | None:
    if not value:
        return None
    if value.startswith("@"):
        # Abstract namespace: a leading NUL byte instead of '@'.
        return b"\0" + value[1:].encode()
    if value.startswith("/"):
        return value
    return None  # vsock and other forms are not used by slawatch's units


class Notifier:
    """Sends sd_notify messages to ``$NOTIFY_SOCKET`` (or the ``address`` given).

    Thread-safe: each message is one ``sendto`` on a fresh datagram socket. Errors while sending
    are swallowed and reported as ``False``: a notification is advisory and must never take the
    daemon down.
    """

    def __init__(self, address: str | None = None, environ: Mapping[str, str] | None = None):
        env = os.environ if environ is None else environ
        raw = address if address is not None else env.get("NOTIFY_SOCKET", "")
        self._address = _socket_address(raw)

    @property
    def enabled(self) -> bool:
        """True when there is a socket to talk to (running under systemd with Type=notify)."""
        return self._address is not None

    def send(self, *fields: str) -> bool:
        """Send one datagram with the given ``KEY=VALUE`` fields; ``True`` if it was sent."""
        if self._address is None:
            return False
        payload = "\n".join(fields).encode("utf-8")
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.connect(self._address)
                sock.sendall(payload)
        except OSError:
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        """``READY=1`` (with an optional ``STATUS=``): startup, or the end of a reload, is done."""
        fields = ["READY=1"]
        if status is not None:
            fields.append(_status_field(status))
        return self.send(*fields)

    def status(self, text: str) -> bool:
        """``STATUS=``: the one-line summary ``systemctl status`` shows."""
        return self.send(_status_field(text))

    def watchdog(self) -> bool:
        """``WATCHDOG=1``: the keep-alive ping. Prefer :class:`Watchdog`, which checks progress."""
        return self.send("WATCHDOG=1")

    def stopping(self, status: str | None = None) -> bool:
        """``STOPPING=1``: shutdown has begun."""
        fields = ["STOPPING=1"]
        if status is not None:
            fields.append(_status_field(status))
        return self.send(*fields)

    def reloading(self, status: str | None = None) -> bool:
        """``RELOADING=1`` with ``MONOTONIC_USEC=``; follow with :meth:`ready` when done."""
        fields = ["RELOADING=1", f"MONOTONIC_USEC={monotonic_usec()}"]
        if status is not None:
            fields.append(_status_field(status))
        return self.send(*fields)


def _status_field(text: str) -> str:
    one_line = " ".join(text.split())
    return f"STATUS={one_line}"


def watchdog_interval_s(environ: Mapping[str, str] | None = None) -> float | None:
    """The watchdog interval systemd asks for (``WatchdogSec=``), or ``None`` if there is none.

    ``$WATCHDOG_USEC`` holds the interval; ``$WATCHDOG_PID``, when set, names the process meant
    to ping, so a child process that inherited the environment does not think it is watched.
    """
    env = os.environ if environ is None else environ
    raw_usec = env.get("WATCHDOG_USEC", "")
    if not raw_usec.isdigit() or int(raw_usec) == 0:
        return None
    raw_pid = env.get("WATCHDOG_PID", "")
    if raw_pid and (not raw_pid.isdigit() or int(raw_pid) != os.getpid()):
        return None
    return int(raw_usec) / 1_000_000


class Watchdog:
    """Pings ``WATCHDOG=1`` only while the scheduler's jobs make progress.

    The runtime calls :meth:`progress` after each successful scan (or other job run). A background
    thread (:meth:`start`) wakes every ``interval_s / 2`` and pings only if the last progress is
    younger than ``stale_after_s`` (default: the watchdog interval). A stuck scan therefore stops
    the pings, and systemd kills and restarts the service after ``WatchdogSec=``.

    ``stale_after_s`` must exceed the longest normal gap between two progress reports (the scan
    interval plus a scan's duration), or a healthy daemon gets restarted: pick ``WatchdogSec=``
    accordingly. Startup counts as progress.
    """

    def __init__(
        self,
        notifier: Notifier,
        interval_s: float,
        *,
        stale_after_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if interval_s <= 0:
            raise ValueError("interval_s must be positive")
        self._notifier = notifier
        self.interval_s = interval_s
        self.stale_after_s = interval_s if stale_after_s is None else stale_after_s
        self._clock = clock
        self._last_progress = clock()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.pings_sent = 0
        self.pings_skipped = 0

    @classmethod
    def from_environment(
        cls,
        notifier: Notifier,
        environ: Mapping[str, str] | None = None,
        *,
        stale_after_s: float | None = None,
    ) -> Watchdog | None:
        """A watchdog for ``$WATCHDOG_USEC``, or ``None`` when systemd asked for none."""
        interval = watchdog_interval_s(environ)
        if interval is None or not notifier.enabled:
            return None
        return cls(notifier, interval, stale_after_s=stale_after_s)

    def progress(self) -> None:
        """Record that a job completed; call it after each successful scan."""
        with self._lock:
            self._last_progress = self._clock()

    def seconds_since_progress(self) -> float:
        with self._lock:
            return self._clock() - self._last_progress

    def ping(self) -> bool:
        """Send ``WATCHDOG=1`` if progress is recent; ``True`` if a ping went out."""
        if self.seconds_since_progress() > self.stale_after_s:
            self.pings_skipped += 1
            return False
        sent = self._notifier.watchdog()
        if sent:
            self.pings_sent += 1
        return sent

    def start(self) -> None:
        """Start the pinger thread (a daemon thread; :meth:`stop` ends it)."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="sd-watchdog", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _run(self) -> None:
        period = self.interval_s / 2
        self.ping()
        while not self._stop.wait(period):
            self.ping()
