"""Start-up benchmark: how long ``slawatch run`` takes from ``exec`` to ``READY=1``.

Issue 4: the daemon "is ready within 2 s on an empty database". Ready means what systemd is
told with ``READY=1``: the database is migrated, the scheduler's jobs run and the HTTP API
accepts requests (``runtime/daemon.py`` sends it only then). This script plays systemd's part
as ``tests/runtime/test_sdnotify_daemon.py`` does: a bound ``AF_UNIX`` datagram socket in
``$NOTIFY_SOCKET``, the clock started just before the process is spawned and stopped when the
``READY=1`` datagram arrives. Each run gets a new empty directory (so a new SQLite database,
``$STATE_DIRECTORY``) and, with the example config, a free port for the API. Then the process is
stopped with SIGTERM, as systemd would.

Printed for each configuration, median of ``--runs`` (and the range):

* **wall** time to ``READY=1``, and the **CPU** time (user + system, all threads) the process
  had used by then, read from ``/proc/PID/stat``: on a shared machine the wall time mostly
  measures waiting for a core, the CPU time is what the start costs;
* the same for a second start on the database the first one left (at head: no migration),
  with ``--restart``;
* peers from the same run, interleaved with the daemon's runs: the bare interpreter
  (``python -c pass``) and ``python -c 'import slawatch'`` (the public API: configuration and
  calendars), wall and CPU time to exit.

Configurations: ``example`` is ``config/slawatch.toml`` (two calendars with public holidays,
API on), ``defaults`` the embedded defaults (SQLite, console output, the ``24x7`` calendar,
API on) with the API on a free port. The load average is printed before and after.

Run: ``make bench`` or ``.venv/bin/python bench/startup_bench.py [--runs N] [--config
example|defaults|PATH] [--restart]``. To compare with another version of the code in the same
run, extract it (``git archive COMMIT daemon | tar -x -C /tmp/old``) and pass ``--against
/tmp/old/daemon``: its runs alternate with this tree's (that directory goes first on
``PYTHONPATH``, with the same interpreter and libraries).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
EXAMPLE_CONFIG = ROOT / "config" / "slawatch.toml"
GOAL_S = 2.0
API_TOKEN = "startup-bench-token-0123456789abcdef"
CLOCK_TICK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Sample:
    wall_s: float
    cpu_s: float


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_of(pid: int) -> float:
    """User + system CPU seconds of a running process, all its threads (``/proc/PID/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICK


def write_config(kind: str, workdir: Path) -> list[str]:
    """The ``--config`` arguments for ``kind``; the API gets a free port (8087 may be taken on
    a shared machine), so ``defaults`` is a file holding only ``[api] listen``."""
    path = workdir / "slawatch.toml"
    if kind == "defaults":
        path.write_text(f'[api]\nlisten = "127.0.0.1:{free_port()}"\n', encoding="utf-8")
        return ["--config", str(path)]
    source = EXAMPLE_CONFIG if kind == "example" else Path(kind)
    text = source.read_text(encoding="utf-8")
    text = text.replace('listen = "127.0.0.1:8087"', f'listen = "127.0.0.1:{free_port()}"')
    path.write_text(text, encoding="utf-8")
    return ["--config", str(path)]


def environment(workdir: Path, notify: str | None, pythonpath: str | None) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("SLAWATCH_CONFIG", "WATCHDOG_USEC", "WATCHDOG_PID", "NOTIFY_SOCKET"):
        env.pop(name, None)
    env["STATE_DIRECTORY"] = str(workdir)
    env["SLAWATCH_API_TOKEN"] = API_TOKEN
    if notify is not None:
        env["NOTIFY_SOCKET"] = notify
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [pythonpath, env.get("PYTHONPATH")]))
    return env


def start_until_ready(
    python: str, args: list[str], workdir: Path, pythonpath: str | None, timeout_s: float
) -> Sample:
    """Spawn ``slawatch run``, wait for ``READY=1``, stop it; wall and CPU time at READY."""
    socket_path = workdir / "notify"
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(str(socket_path))
    env = environment(workdir, str(socket_path), pythonpath)
    try:
        started = time.perf_counter()
        proc = subprocess.Popen(
            [python, "-m", "slawatch", "run", *args],
            env=env,
            cwd=workdir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            deadline = started + timeout_s
            while True:
                receiver.settimeout(max(0.01, deadline - time.perf_counter()))
                try:
                    data = receiver.recv(4096)
                except TimeoutError:
                    raise SystemExit(f"no READY=1 within {timeout_s} s") from None
                if b"READY=1" in data.split(b"\n"):
                    wall = time.perf_counter() - started
                    cpu = cpu_of(proc.pid)
                    break
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=30)
            if proc.returncode != 0:
                raise SystemExit(f"slawatch run exited {proc.returncode}: {err.decode()[-2000:]}")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    finally:
        receiver.close()
        socket_path.unlink(missing_ok=True)
    return Sample(wall, cpu)


def run_to_exit(python: str, code: str, workdir: Path, pythonpath: str | None) -> Sample:
    """Wall and CPU time of ``python -c CODE`` from spawn to exit (a peer)."""
    env = environment(workdir, None, pythonpath)
    before = os.times()
    started = time.perf_counter()
    subprocess.run([python, "-c", code], env=env, cwd=workdir, check=True)
    wall = time.perf_counter() - started
    after = os.times()
    cpu = (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )
    return Sample(wall, cpu)


def summary(samples: list[Sample]) -> str:
    walls = [s.wall_s for s in samples]
    cpus = [s.cpu_s for s in samples]
    return (
        f"wall {statistics.median(walls):6.3f} s ({min(walls):.3f}-{max(walls):.3f})   "
        f"CPU {statistics.median(cpus):6.3f} s ({min(cpus):.3f}-{max(cpus):.3f})"
    )


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="runs per measure (default 7)")
    parser.add_argument(
        "--config",
        action="append",
        help="example (config/slawatch.toml), defaults (only [api] listen) or a path; repeatable "
        "(default: example and defaults)",
    )
    parser.add_argument(
        "--restart", action="store_true", help="also time a second start on the same database"
    )
    parser.add_argument("--python", default=sys.executable, help="interpreter to run")
    parser.add_argument(
        "--against", help="another version's daemon/ directory, run alternately with this one"
    )
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for READY")
    opts = parser.parse_args()
    configs = opts.config or ["example", "defaults"]

    print(
        f"slawatch run: exec -> READY=1 on an empty SQLite database, median of {opts.runs} "
        f"(range); goal <= {GOAL_S:.0f} s"
    )
    print(f"python {platform.python_version()}, nproc {os.cpu_count()}, load before: {load()}")
    variants: list[tuple[str, str | None]] = [("", None)]
    if opts.against:
        variants.append((f" [{opts.against}]", opts.against))
    results: dict[str, list[Sample]] = {}
    for _ in range(opts.runs):
        # Interleaved, so every variant and the peers see the same load.
        for kind in configs:
            for label, pythonpath in variants:
                workdir = Path(tempfile.mkdtemp(prefix="slawatch-startup-"))
                try:
                    args = write_config(kind, workdir)
                    results.setdefault(f"run, {kind}{label}", []).append(
                        start_until_ready(opts.python, args, workdir, pythonpath, opts.timeout)
                    )
                    if opts.restart:
                        results.setdefault(f"run, {kind}, restart{label}", []).append(
                            start_until_ready(opts.python, args, workdir, pythonpath, opts.timeout)
                        )
                finally:
                    shutil.rmtree(workdir, ignore_errors=True)
        workdir = Path(tempfile.mkdtemp(prefix="slawatch-startup-"))
        try:
            results.setdefault("peer: python -c pass", []).append(
                run_to_exit(opts.python, "pass", workdir, None)
            )
            results.setdefault("peer: python -c 'import slawatch'", []).append(
                run_to_exit(opts.python, "import slawatch", workdir, None)
            )
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    width = max(len(name) for name in results)
    for name, samples in results.items():
        print(f"{name:<{width}}  {summary(samples)}")
    print(f"load after: {load()}")


if __name__ == "__main__":
    main()
