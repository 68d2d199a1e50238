"""``slawatch run``: one long-running process, the timer plus the HTTP API.

Lifecycle:

* **start**: load and check the configuration (secrets included), configure logging, take the
  pid lock next to the database, apply migrations under a lock, upsert the config's accounts,
  put rows a crash left ``sending`` back to ``pending``, start the timer (full recompute first,
  then the scan every ``[daemon] scan_interval``, the dispatcher every ``dispatch_interval`` and
  whenever work is enqueued, the daily reminders, housekeeping) and the API, then ``READY=1``.
* **SIGHUP**: reload the configuration. A bad file is refused with its errors logged and the
  old configuration stays in force; a good one is swapped in and a full recompute runs.
* **SIGTERM/SIGINT**: stop taking work (the API stops, the dispatcher finishes the message in
  flight), ``STOPPING=1``, exit 0 within ``[daemon] shutdown_timeout``; a send still waiting
  on its provider by then is abandoned (its row stays ``sending`` and is sent again at start).

The database is the source of truth: nothing that matters lives only in memory, so a crash or
``kill -9`` at any point loses nothing (see :mod:`slawatch.runtime.dispatch`).
"""

from __future__ import annotations

import gc
import os
import signal
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import FrameType
from typing import Any, Protocol

from slawatch.config.loader import Settings, load_config
from slawatch.config.policy_context import policy_context
from slawatch.core.policy import PolicyContext
from slawatch.errors import ConfigError
from slawatch.obs.logging import configure_logging, get_logger
from slawatch.obs.metrics import Metrics
from slawatch.runtime import gctune
from slawatch.runtime.dispatch import DispatchEnv, Dispatcher
from slawatch.runtime.pidlock import PidLock, pid_path
from slawatch.runtime.scanpool import ScanPool, default_workers
from slawatch.runtime.sdnotify import Notifier, Watchdog
from slawatch.runtime.timer import Timer
from slawatch.service import escalation
from slawatch.store import outbox, repo
from slawatch.store.db import Database, database_url
from slawatch.store.migrate import ensure_current

log = get_logger("slawatch.daemon")

SCAN_JOB = "sla-scan"
DISPATCH_JOB = "outbox-dispatch"
REMINDERS_JOB = "daily-reminders"
HOUSEKEEPING_JOB = "housekeeping"
CHECKPOINT_JOB = "wal-checkpoint"
#: How often the SQLite WAL is copied into the database file (``Database.checkpoint``), so that
#: the scan's and the API's commits never pay for it themselves.
CHECKPOINT_EVERY = timedelta(seconds=10)
#: A scan that evaluated at least this many incidents wakes the checkpoint job at once.
CHECKPOINT_AFTER = 100
#: Seconds between two refreshes of the sd_notify STATUS line and the incident gauges.
STATUS_EVERY_S = 15.0
#: Incidents evaluated per transaction in a scan or a full recompute. With a scan worker a
#: batch holds the write lock ~0.1 s; alone, ~0.15 s. In a tick's batches the workers wait
#: while the daemon writes and commits: 1,000 rather than 500 halves that (bench/README.md,
#: sixth round); a full recompute hands them the next page ahead (escalation.evaluate_all).
BATCH = 1000


def utc_now() -> datetime:
    return datetime.now(UTC)


def _rates(settings: Settings) -> tuple[object, object]:
    delivery = settings.file.delivery
    return (dict(delivery.channel_rate_per_minute), dict(delivery.recipient_rate_per_minute))


class Parts(Protocol):
    """What the composition root (:mod:`slawatch.wiring`) builds for the daemon.

    The runtime never imports the adapters' construction details itself: it asks for them, so
    tests and tools can hand it other parts.
    """

    def resolve_secrets(self, settings: Settings, environ: Mapping[str, str]) -> None: ...

    def dispatch_env(
        self, settings: Settings, db: Database, environ: Mapping[str, str]
    ) -> DispatchEnv: ...

    def limiter(self, settings: Settings, now: float) -> Any: ...

    def intake(self, daemon: Daemon) -> Any: ...

    def api_app(self, daemon: Daemon) -> Any: ...


@dataclass(frozen=True)
class Loaded:
    """The configuration in force and what is derived from it; swapped whole on reload."""

    settings: Settings
    policy: PolicyContext


class Daemon:
    """Owns every running part; :meth:`run` blocks until a stop signal and returns the exit code."""

    def __init__(
        self,
        config_path: str | None,
        *,
        parts: Parts,
        environ: Mapping[str, str] | None = None,
        demo: bool = False,
    ) -> None:
        self.config_path = config_path
        self.parts = parts
        self.environ = dict(os.environ if environ is None else environ)
        self.demo = demo
        self.notifier = Notifier(environ=self.environ)
        self.metrics = Metrics()
        self._stop = threading.Event()
        self._reload = threading.Event()
        self._full_recompute = threading.Event()
        self._status_at = float("-inf")
        self._api_server: Any = None
        self.scan_pool: ScanPool | None = None
        self._api_thread: threading.Thread | None = None
        #: True when :meth:`shutdown` gave up waiting for a job: exit at once (``os._exit``).
        self.abandoned = False
        self.watchdog: Watchdog | None = None

    # ------------------------------------------------------------------------- start-up
    def _load(self) -> Loaded:
        settings = load_config(self.config_path, self.environ)
        self.parts.resolve_secrets(settings, self.environ)
        return Loaded(settings, policy_context(settings))

    def start(self) -> None:
        """Everything up to ``READY=1``; raises ConfigError (exit 2) on a bad configuration.

        The cyclic garbage collector is off until then. Start-up builds a few hundred thousand
        long-lived objects (imported modules, pydantic and SQLAlchemy models, the API's routes)
        and makes little garbage; the collector would walk the growing heap again and again
        (about a fifth of the CPU time to ``READY=1``). ``slawatch run`` turns it off before
        importing the daemon; it is on again once the daemon is ready, or has failed to start,
        with the thresholds of :mod:`slawatch.runtime.gctune`.
        """
        gc.disable()
        try:
            self._start()
        finally:
            gctune.tune()  # the scan's thresholds (runtime/gctune.py)
            gc.enable()

    def _start(self) -> None:
        started = time.monotonic()
        self.loaded = self._load()
        settings = self.loaded.settings
        configure_logging(settings.file.logging.level, settings.file.logging.format)
        self.db = Database.from_settings(settings, self.environ)
        self.pidlock = PidLock(pid_path(self.db.sqlite_path, self.environ))
        self.pidlock.acquire()
        before, after = ensure_current(self.db)
        if before != after:
            log.info("database_migrated", from_revision=before, to_revision=after)
        self.intake = self.parts.intake(self)
        synced = self.intake.sync_config_accounts()
        now = utc_now()
        with self.db.session() as session:
            requeued = outbox.requeue_in_flight(session, now)
        if requeued:
            log.warning(
                "requeued_in_flight",
                count=requeued,
                detail="sent again: they were being sent when the daemon stopped",
            )
        if self.demo:
            from slawatch.runtime.demo import seed_demo

            seed_demo(self.intake, now)
        with self.db.read_session() as session:
            open_count = repo.count_open_incidents(session)
            accounts = len(repo.list_accounts(session))
        env = self.parts.dispatch_env(settings, self.db, self.environ)
        self.dispatcher = Dispatcher(
            self.db,
            env,
            limiter=self.parts.limiter(settings, time.monotonic()),
            metrics=self.metrics,
        )
        self.scan_pool = self._scan_pool(settings)
        self._full_recompute.set()
        daemon_cfg = settings.file.daemon
        self.timer = Timer(misfire_grace=daemon_cfg.misfire_grace)
        self.timer.every(SCAN_JOB, self.scan, daemon_cfg.scan_interval)
        self.timer.every(DISPATCH_JOB, self.dispatch, daemon_cfg.dispatch_interval)
        hour, minute = (int(x) for x in settings.file.meetings.reminder_time.split(":"))
        self.timer.daily(
            REMINDERS_JOB,
            self.reminders,
            hour=hour,
            minute=minute,
            timezone=str(settings.calendar(None).timezone),
            start_now=False,
        )
        self.timer.every(
            HOUSEKEEPING_JOB, self.housekeeping, daemon_cfg.housekeeping_interval, start_now=False
        )
        if not self.db.is_postgresql:
            self.timer.every(CHECKPOINT_JOB, self.checkpoint, CHECKPOINT_EVERY, start_now=False)
        self.timer.start()
        if settings.file.api.enabled:
            self._start_api()
        self.watchdog = Watchdog.from_environment(
            self.notifier,
            self.environ,
            stale_after_s=max(60.0, 3 * daemon_cfg.scan_interval.total_seconds()),
        )
        if self.watchdog is not None:
            self.watchdog.start()
        senders = {ch: type(s).__name__ for ch, s in env.senders.items()}
        log.info(
            "started",
            config=settings.source,
            database=self.db.url_for_display,
            plans=sorted(settings.plans),
            calendars=sorted(settings.calendars),
            accounts=accounts,
            config_accounts=len(synced),
            open_incidents=open_count,
            senders=senders,
            jobs=self.timer.job_ids(),
            api=settings.file.api.listen if settings.file.api.enabled else None,
            startup_ms=round((time.monotonic() - started) * 1000),
        )
        self.notifier.ready(self.status_line())
        # The daily reminders catch up right after start, once the API and scan are up: doing
        # it during start-up would only compete with them for the CPU and delay READY=1.
        self.timer.wake(REMINDERS_JOB)
        self.timer.wake(HOUSEKEEPING_JOB)

    def _scan_pool(self, settings: Settings) -> ScanPool | None:
        """The scan workers ``[daemon] scan_workers`` asks for (none for an in-memory SQLite
        database, which another process cannot open); they start with the first big batch."""
        configured = settings.file.daemon.scan_workers
        workers = default_workers() if configured is None else configured
        if workers <= 0 or (not self.db.is_postgresql and self.db.sqlite_path is None):
            return None
        return ScanPool(workers, settings, database_url(settings, self.environ))

    def _current(self) -> tuple[Settings, PolicyContext]:
        loaded = self.loaded
        return loaded.settings, loaded.policy

    def _start_api(self) -> None:
        import uvicorn

        settings = self.loaded.settings
        app = self.parts.api_app(self)
        host, _, port = settings.file.api.listen.rpartition(":")
        config = uvicorn.Config(
            app,
            host=host.strip("[]"),
            port=int(port),
            log_config=None,
            access_log=False,
            lifespan="off",
        )
        self._api_server = uvicorn.Server(config)
        self._api_thread = threading.Thread(target=self._api_server.run, name="api", daemon=True)
        self._api_thread.start()
        deadline = time.monotonic() + 5
        while not self._api_server.started and time.monotonic() < deadline:
            if not self._api_thread.is_alive():
                raise ConfigError(f"api.listen: cannot listen on {settings.file.api.listen}")
            time.sleep(0.01)

    # --------------------------------------------------------------------------- the jobs
    def scan(self) -> None:
        """The SLA scan: due incidents only, or every open incident after start/reload."""
        full = self._full_recompute.is_set()
        self._full_recompute.clear()
        started = time.perf_counter()
        settings, ctx = self._current()
        total = escalation.EvaluationSummary()
        now = utc_now()
        if full:
            with self.db.consecutive_sessions() as transactions:
                total = escalation.evaluate_all(
                    transactions,
                    settings,
                    ctx,
                    now,
                    limit=BATCH,
                    helper=self.scan_pool,
                    stop=self._stop.is_set,
                    others_waiting=self.db.writers_waiting,
                )
        else:
            while not self._stop.is_set():
                with self.db.session() as session:
                    summary = escalation.evaluate_due(
                        session, settings, ctx, now, limit=BATCH, helper=self.scan_pool
                    )
                total.merge(summary)
                if summary.evaluated < BATCH:
                    break
        duration = time.perf_counter() - started
        self.metrics.record_scan(
            duration,
            ok=True,
            finished_at_unix=utc_now().timestamp(),
            kind="full" if full else "tick",
        )
        for notice, new in total.decisions:
            if new:
                log.info(
                    "escalation_decided",
                    incident_id=notice.incident,
                    target=notice.target,
                    stage=notice.stage,
                    step=notice.step,
                    repetition=notice.repetition,
                    recipient=notice.recipient,
                    channel=notice.channel,
                    send_at=notice.send_at.isoformat(),
                    reason=notice.reason,
                )
        for incident_id, error in total.failed:
            log.error(
                "evaluation_failed",
                incident_id=incident_id,
                error=error,
                retry_at=(now + escalation.RETRY_FAILED).isoformat(),
            )
        if total.evaluated or full:
            log.info(
                "scan_finished",
                kind="full" if full else "tick",
                evaluated=total.evaluated,
                by_workers=total.by_workers,
                pages_redone=total.pages_redone,
                pages_yielded=total.pages_yielded,
                enqueued=total.enqueued,
                skipped=total.skipped,
                duration_ms=round(duration * 1000, 1),
            )
        if self.watchdog is not None:
            self.watchdog.progress()
        if total.enqueued:
            self.wake_dispatch()
        if total.evaluated >= CHECKPOINT_AFTER and not self.db.is_postgresql:
            # A big scan's commits leave thousands of pages in the WAL on a large database:
            # copy them into the file now, beside the dispatcher, rather than up to 10 s later
            # (a long log makes every transaction meanwhile slower).
            self.timer.wake(CHECKPOINT_JOB)
        self._schedule_next_scan()
        # The STATUS line and the due/breached gauges cost two grouped queries over every open
        # incident; the scan is woken by each API change, so refresh them at most every 15 s.
        if full or time.monotonic() - self._status_at >= STATUS_EVERY_S:
            self._status_at = time.monotonic()
            self.notifier.status(self.status_line())

    def _schedule_next_scan(self) -> None:
        """Wake the scan exactly at the earliest stored ``next_check_at`` if that comes before
        the next interval tick, so a threshold never waits a whole ``scan_interval``."""
        with self.db.read_session() as session:
            earliest = repo.earliest_next_check(session)
        if earliest is None:
            return
        interval = self.loaded.settings.file.daemon.scan_interval
        if earliest < utc_now() + interval:
            self.timer.wake_at(SCAN_JOB, earliest)

    def dispatch(self) -> None:
        self.dispatcher.run_once()

    def wake_dispatch(self) -> None:
        """Run the dispatcher now. Before the timer exists (start-up: config accounts synced,
        demo seeded) there is nothing to wake: the dispatcher's first run is immediate."""
        timer = getattr(self, "timer", None)
        if timer is not None:
            timer.wake(DISPATCH_JOB)

    def reminders(self) -> None:
        from slawatch.service.reminders import run_daily_reminders

        settings, _ = self._current()
        with self.db.session() as session:
            result = run_daily_reminders(session, settings, utc_now())
        enqueued = result if isinstance(result, int) else getattr(result, "enqueued", 0)
        if enqueued:
            log.info("reminders_enqueued", count=enqueued)
            self.wake_dispatch()

    def housekeeping(self) -> None:
        """Forget sent notifications older than ``[daemon] keep_sent_days``; prune rate limits."""
        settings, _ = self._current()
        cutoff = utc_now() - timedelta(days=settings.file.daemon.keep_sent_days)
        with self.db.session() as session:
            purged = outbox.purge_sent_before(session, cutoff)
        self.dispatcher.limiter.prune(time.monotonic())
        if purged:
            log.info("housekeeping", purged_notifications=purged)

    def checkpoint(self) -> None:
        """Copy the SQLite WAL into the database file in a job of its own (see
        :meth:`slawatch.store.db.Database.checkpoint`)."""
        started = time.perf_counter()
        result = self.db.checkpoint()
        if result is not None and result[1]:
            log.debug(
                "wal_checkpoint",
                wal_pages=result[0],
                copied_pages=result[1],
                duration_ms=round((time.perf_counter() - started) * 1000, 1),
            )

    def status_line(self) -> str:
        """One line for ``STATUS=``: open and breached incidents, outbox depth."""
        try:
            with self.db.read_session() as session:
                open_count = repo.count_open_incidents(session)
                due, breached = escalation.incident_counts(session)
                counts = outbox.count_by_status(session)
        except Exception:
            return "database unavailable"
        self.metrics.set_incident_counts(due, breached)
        return (
            f"{open_count} open incidents, {sum(breached.values())} breached, outbox: "
            f"{counts.get('pending', 0) + counts.get('sending', 0)} pending, "
            f"{counts.get('failed', 0)} failed"
        )

    # --------------------------------------------------------------------------- reload
    def reload(self) -> bool:
        """Swap in a new configuration if it is valid; keep the old one otherwise."""
        self.notifier.reloading("reloading configuration")
        try:
            loaded = self._load()
            env = self.parts.dispatch_env(loaded.settings, self.db, self.environ)
        except ConfigError as exc:
            log.error(
                "reload_refused",
                problems=exc.problems,
                detail="the previous configuration stays in force",
            )
            self.notifier.ready(self.status_line())
            return False
        old_rates = _rates(self.loaded.settings)
        old_workers = self.loaded.settings.file.daemon.scan_workers
        self.loaded = loaded
        if loaded.settings.file.daemon.scan_workers != old_workers:
            if self.scan_pool is not None:
                self.scan_pool.close()
            self.scan_pool = self._scan_pool(loaded.settings)
        elif self.scan_pool is not None:
            self.scan_pool.configure(loaded.settings)
        self.intake.settings = loaded.settings
        self.dispatcher.env = env
        if _rates(loaded.settings) != old_rates:
            # Only new limits get new buckets: refilling them on every SIGHUP would let a burst
            # through right after a reload.
            self.dispatcher.limiter = self.parts.limiter(loaded.settings, time.monotonic())
        configure_logging(loaded.settings.file.logging.level, loaded.settings.file.logging.format)
        self.intake.sync_config_accounts()
        self._full_recompute.set()
        self.timer.wake(SCAN_JOB)
        log.info("reloaded", config=loaded.settings.source)
        self.notifier.ready(self.status_line())
        return True

    # ------------------------------------------------------------------------ main loop
    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if signum == signal.SIGHUP:
            self._reload.set()
        else:
            self._stop.set()

    def run(self) -> int:
        """Start, then serve until SIGTERM/SIGINT; SIGHUP reloads. Returns the exit code."""
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self._on_signal)
        self.start()
        while not self._stop.is_set():
            if self._reload.wait(0.5):
                self._reload.clear()
                try:
                    self.reload()
                except Exception:  # a reload must never take the running daemon down
                    log.exception(
                        "reload_failed", detail="the daemon keeps running; check the config"
                    )
                    self.notifier.ready(self.status_line())
        self.shutdown()
        return 0

    def shutdown(self) -> None:
        """Stop taking work and wait for the running jobs, at most ``[daemon] shutdown_timeout``.

        A job still running after that (a send hanging until its provider timeout) is abandoned:
        its notification stays ``sending`` and is sent again at the next start (at-least-once),
        and :attr:`abandoned` tells the caller to exit without waiting for the stuck thread.
        """
        log.info("stopping")
        self.notifier.stopping("stopping")
        self.dispatcher.stopping.set()
        if self.scan_pool is not None:
            # A share in progress fails at once and the scan decides it itself.
            self.scan_pool.close()
        if self._api_server is not None:
            self._api_server.should_exit = True
        limit_s = self.loaded.settings.file.daemon.shutdown_timeout.total_seconds()
        stopper = threading.Thread(
            target=self.timer.shutdown, kwargs={"wait": True}, name="stop-timer", daemon=True
        )
        stopper.start()
        stopper.join(limit_s)
        if stopper.is_alive():
            self.abandoned = True
            log.warning(
                "shutdown_timeout",
                timeout_s=limit_s,
                detail="a job is still running (a send waiting on its provider); exiting "
                "without it: a notification left in flight is sent again at the next start",
            )
        if self._api_thread is not None:
            self._api_thread.join(timeout=5)
        if self.watchdog is not None:
            self.watchdog.stop()
        self.db.dispose()
        self.pidlock.release()
        log.info("stopped")
