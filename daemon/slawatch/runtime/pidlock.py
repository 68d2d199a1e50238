"""The daemon's pid lock: how other commands tell that ``slawatch run`` is running.

``slawatch run`` takes an exclusive ``flock`` on a pid file next to the SQLite database
(``var/slawatch.db`` -> ``var/slawatch.pid``; under systemd ``/var/lib/slawatch/slawatch.pid``)
and holds it for its whole life. The kernel drops the lock when the process exits, even after
SIGKILL, so a stale file never blocks anything: "running" means "the lock is held", never "the
file exists". The file holds the pid for people and for messages.

With PostgreSQL there is no database file; the lock then lives in ``$STATE_DIRECTORY`` or
``./var``.

``slawatch db restore`` refuses while :func:`holder_pid` returns a pid.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

from slawatch.errors import SlawatchError

__all__ = ["PID_FILENAME", "DaemonRunningError", "PidLock", "holder_pid", "pid_path"]

PID_FILENAME = "slawatch.pid"


class DaemonRunningError(SlawatchError):
    """Another process holds the daemon lock (``slawatch run`` is running)."""

    def __init__(self, path: Path, pid: int | None) -> None:
        self.path = path
        self.pid = pid
        who = f"pid {pid}" if pid else "another process"
        super().__init__(f"slawatch run is already running ({who} holds {path})")


def pid_path(sqlite_path: Path | None, environ: Mapping[str, str] | None = None) -> Path:
    """Where the lock lives: next to the SQLite file, else in the state directory or ./var."""
    if sqlite_path is not None:
        return sqlite_path.with_suffix(".pid")
    env = os.environ if environ is None else environ
    state = env.get("STATE_DIRECTORY", "").split(":")[0]
    return (Path(state) if state else Path("var")) / PID_FILENAME


def _read_pid(path: Path) -> int | None:
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() else None


class PidLock:
    """An exclusive, non-blocking ``flock`` on ``path``, held until :meth:`release` or exit.

    Use as a context manager, or call :meth:`acquire` at start and let process exit release it.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock and write our pid; raise :class:`DaemonRunningError` if it is held."""
        if self._fd is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise DaemonRunningError(self.path, _read_pid(self.path)) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode("ascii"))
        os.fsync(fd)
        self._fd = fd

    def release(self) -> None:
        """Empty the file and drop the lock.

        The file stays: unlinking it could let a starting daemon lock a deleted inode while a
        second one creates a new file, and both would believe they run alone.
        """
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, 0)
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> PidLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def holder_pid(path: Path) -> int | None:
    """The pid of the process holding the lock at ``path`` (0 if unknown), or ``None`` if free.

    Probing takes the lock for an instant when it is free; it never creates the file.
    """
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_pid(path) or 0
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
