"""A throwaway PostgreSQL server for tests and CI (standard library only).

``python3 tests/pg_server.py start`` initialises a cluster in a temporary directory owned by the
``postgres`` user (the server refuses to run as root), starts it on 127.0.0.1 on a free port,
creates the database ``slawatch_test`` and prints shell ``export`` lines for
``SLAWATCH_TEST_PG_URL`` and ``SLAWATCH_TEST_PG_DIR``. ``python3 tests/pg_server.py stop DIR``
stops it and removes the directory. ``tests/conftest.py`` calls :func:`start` itself when no
server is given, so a plain ``pytest`` runs the PostgreSQL half of the store contract too.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

DB_NAME = "slawatch_test"


@dataclass
class PgServer:
    url: str
    directory: Path
    bindir: Path
    port: int

    def stop(self) -> None:
        stop(self.directory, self.bindir)


def find_bindir() -> Path | None:
    """Debian keeps the server binaries in /usr/lib/postgresql/<major>/bin."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    if candidates:
        return Path(candidates[0]).parent
    found = shutil.which("initdb")
    return Path(found).resolve().parent if found else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_postgres(args: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return args
    runuser = shutil.which("runuser")
    if runuser:
        return [runuser, "-u", "postgres", "--", *args]
    return ["su", "postgres", "-s", "/bin/sh", "-c", " ".join(args)]


def _run(args: list[str]) -> None:
    subprocess.run(_as_postgres(args), check=True, capture_output=True, text=True, timeout=120)


def start() -> PgServer:
    """Start a fresh cluster; raise RuntimeError when PostgreSQL is not installed."""
    bindir = find_bindir()
    if bindir is None:
        raise RuntimeError("PostgreSQL server binaries (initdb) not found")
    directory = Path(tempfile.mkdtemp(prefix="slawatch-pg-"))
    if os.geteuid() == 0:
        shutil.chown(directory, "postgres", "postgres")
    data = directory / "data"
    _run([str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"])
    port = _free_port()
    options = f"-p {port} -k {directory} -c listen_addresses=127.0.0.1 -c fsync=off"
    _run(
        [
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            options,
            "-l",
            str(directory / "server.log"),
            "-w",
            "start",
        ]
    )
    _run([str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", DB_NAME])
    url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/{DB_NAME}"
    return PgServer(url=url, directory=directory, bindir=bindir, port=port)


def stop(directory: Path, bindir: Path | None = None) -> None:
    bindir = bindir or find_bindir()
    if bindir is not None and (directory / "data").exists():
        subprocess.run(
            _as_postgres(
                [str(bindir / "pg_ctl"), "-D", str(directory / "data"), "-m", "immediate", "stop"]
            ),
            capture_output=True,
            timeout=60,
        )
    shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "start":
        server = start()
        print(f"export SLAWATCH_TEST_PG_URL='{server.url}'")
        print(f"export SLAWATCH_TEST_PG_DIR='{server.directory}'")
    elif len(sys.argv) == 3 and sys.argv[1] == "stop":
        stop(Path(sys.argv[2]))
    else:
        sys.exit("usage: pg_server.py start | stop DIR")
