"""The outbox dispatcher: the explicit stages every notification goes through.

For each due row, one at a time:

1. **claim**: ``pending -> sending``, committed before the send in one transaction with steps
   2-4 (a re-check or rendering that raises rolls it back; the row is then claimed on its own
   and retried). Only the row about to be sent is ever ``sending``, so a crash re-sends at
   most that one message after restart (``requeue_in_flight`` at start) and never another
   one twice;
2. **re-check**: the notification must still apply (incident not resolved, page not
   acknowledged, target clock not met; for a meeting reminder, no meeting recorded since),
   else it is ``dropped`` with the reason;
3. **rate limit**: per channel and per recipient token buckets; a row that must wait goes back
   to ``pending`` until its turn. SMS pages are urgent: claimed first and never held;
4. **address and render**: the recipient's Slack id, email or phone, and the channel's
   template; a template error still sends the built-in plain text;
5. **send** through the channel's sender, which only says *temporary* or *permanent*;
6. **record**: ``sent`` with the provider's id (and the thread reference for later messages
   about the same incident) only after the provider accepted it, committed together with the
   next row's claim (step 1) or on its own when no row follows: one transaction per message.
   The sent row stays ``sending`` until that commit, which makes the next row ``sending`` in
   the same instant, so still one row at most is ``sending`` and a crash in between re-sends
   that one message only. The ``notification_sent`` log line and metric come as soon as the
   provider accepted, before that commit. A temporary failure is
   retried with exponential backoff and jitter, honouring Retry-After, until
   ``[delivery] max_attempts``; a permanent failure (or retries exhausted) marks the row
   ``failed`` and enqueues the same notification on the next channel of ``[delivery] fallback``
   so the person is still told.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from slawatch.config.loader import Settings
from slawatch.core.delivery import (
    Releasable,
    address_for,
    collapse_released,
    next_attempt,
    still_applies,
)
from slawatch.core.policy import PolicyContext
from slawatch.errors import DeliveryError
from slawatch.obs.logging import get_logger, mask_phone
from slawatch.obs.metrics import Metrics
from slawatch.render.renderer import Renderer
from slawatch.runtime.context import account_notification_context, incident_notification_context
from slawatch.senders.base import Sender
from slawatch.service.evaluation import context_of
from slawatch.service.reminders import reminder_still_applies
from slawatch.store import outbox, repo
from slawatch.store.db import Database
from slawatch.store.dispatch_sql import DispatchSQL
from slawatch.store.models import Notification

log = get_logger("slawatch.dispatch")

#: Outbox kinds that describe an incident (their payload is the policy's notice).
INCIDENT_KINDS = frozenset({"escalation", "page", "catchup"})


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class DispatchEnv:
    """What the dispatcher needs from the configuration; rebuilt (and swapped) on reload."""

    settings: Settings
    policy: PolicyContext
    senders: Mapping[str, Sender]
    renderer: Renderer


@dataclass
class DispatchStats:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    dropped: int = 0
    held: int = 0


def _mask(channel: str, address: str | None) -> str | None:
    if address is None:
        return None
    return mask_phone(address) if channel == "sms" else address


class Dispatcher:
    """Sends due outbox rows; call :meth:`run_once` from the timer (and when woken)."""

    def __init__(
        self,
        db: Database,
        env: DispatchEnv,
        *,
        limiter: Any,
        metrics: Metrics | None = None,
        clock: Callable[[], datetime] = _utcnow,
        monotonic: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.db = db
        self.env = env
        self.limiter = limiter
        self.metrics = metrics
        self.clock = clock
        self.monotonic = monotonic
        self.rng = rng or random.Random()
        self.stopping = threading.Event()

    # ------------------------------------------------------------------------- the loop
    def run_once(self, *, max_messages: int = 10_000) -> DispatchStats:
        """Send what is due now, one row at a time, until nothing is due or we are stopping."""
        stats = DispatchStats()
        stats.dropped += self._collapse_released(self.clock())
        # One connection for the run: a transaction on it costs a fraction of a new session's.
        with self.db.engine.connect() as conn:
            self._run(conn, max_messages, stats)
        self._update_gauges()
        return stats

    def _run(self, conn: Connection, max_messages: int, stats: DispatchStats) -> None:
        # A row the provider accepted is recorded 'sent' in the transaction that claims the next
        # one (one transaction per message, not two). It stays 'sending' until then, so a crash
        # in between re-sends that row only, as a crash before a separate commit would.
        accepted: _Accepted | None = None
        for _ in range(max_messages):
            if self.stopping.is_set():
                break
            now = self.clock()
            snapshot: _RowSnapshot | None = None
            prepared: _Prepared | None = None
            try:
                # Claim, re-check and render in one transaction: the row is committed
                # 'sending' (or dropped/held/failed) before the send, as with separate ones.
                with self._unit(conn) as unit:
                    if accepted is not None:
                        self._record_sent(unit.sql, accepted)
                    row = unit.sql.claim_next(now)
                    snapshot = _RowSnapshot.of(row) if row is not None else None
                    if snapshot is not None:
                        prepared = self._prepare(unit, snapshot, stats)
                accepted = None
            except Exception as exc:  # a bug in the re-check or rendering: retry the row
                if accepted is not None:  # rolled back too: record it on its own first
                    self._flush_sent(conn, accepted)
                    accepted = None
                if snapshot is None:
                    raise
                # The transaction, claim included, was rolled back: claim the row again on
                # its own, then record the retry (the state a separate claim would have left).
                with self.db.session() as session:
                    reclaimed = outbox.claim_id(session, snapshot.id, now)
                if reclaimed:
                    self._unexpected(snapshot, exc, stats)
                continue
            if snapshot is None:
                break
            if prepared is None:
                continue
            try:
                accepted = self._send(snapshot, prepared, stats)
            except Exception as exc:  # a bug outside the send: retry the row, go on with others
                self._unexpected(snapshot, exc, stats)
        if accepted is not None:
            self._flush_sent(conn, accepted)

    def _record_sent(self, sql: DispatchSQL, accepted: _Accepted) -> None:
        """Mark an accepted row ``sent`` (with the provider's id) and keep its thread."""
        row, address = accepted.row, accepted.address
        sql.mark_sent(
            row.id, accepted.done, provider_message_id=accepted.provider_message_id, address=address
        )
        if row.incident_id is not None and accepted.thread_ref:
            sql.remember_thread(row.incident_id, row.channel, address, accepted.thread_ref)

    def _flush_sent(self, conn: Connection, accepted: _Accepted) -> None:
        """Record an accepted row in a transaction of its own (no next row to claim with it)."""
        with self._unit(conn) as unit:
            self._record_sent(unit.sql, accepted)

    @contextmanager
    def _unit(self, conn: Connection) -> Iterator[_Unit]:
        """A write transaction on the run's connection (``BEGIN IMMEDIATE`` on SQLite, as in
        ``Database.session``), committed when the block ends and rolled back on an exception."""
        with conn.begin():
            unit = _Unit(conn)
            try:
                yield unit
                unit.flush()
            finally:
                unit.close()

    def _unexpected(self, row: _RowSnapshot, exc: Exception, stats: DispatchStats) -> None:
        """A row whose re-check, address or rendering raised: without this it would stay
        ``sending`` until the next restart and abort the rest of the run. It goes back to
        ``pending`` with backoff (at-least-once) and the error recorded."""
        bound = log.bind(notification_id=row.id, incident_id=row.incident_key, stage=row.stage)
        bound.exception("dispatch_failed", error=type(exc).__name__)
        error = DeliveryError(f"unexpected {type(exc).__name__}: {exc}", temporary=True)
        with self.db.session() as session:
            self._retry(session, row, self.clock(), error, bound, stats)
        self._record(row.channel, "retry", None)

    def _collapse_released(self, now: datetime) -> int:
        """Held messages released together (Monday 09:00) reach a person once per incident and
        channel: only the most severe is sent, the others are dropped with the reason."""
        with self.db.session() as session:
            rows = session.execute(
                select(Notification).where(
                    Notification.status == "pending",
                    Notification.attempts == 0,
                    Notification.incident_id.is_not(None),
                    Notification.not_before.is_not(None),
                    Notification.not_before <= now,
                    Notification.next_attempt_at <= now,
                )
            ).scalars()
            items = [
                Releasable(
                    id=row.id,
                    incident=str(row.incident_id),
                    target=row.target,
                    recipient=row.recipient,
                    channel=row.channel,
                    severity=int((row.payload or {}).get("severity", 0)),
                    stage=row.stage,
                )
                for row in rows
            ]
            if len(items) < 2:
                return 0
            _keep, drop = collapse_released(items)
            for item in drop:
                outbox.mark_dropped(
                    session,
                    int(item.id),  # type: ignore[call-overload]
                    now,
                    "superseded by a more severe message released at the same time",
                )
        return len(drop)

    def _update_gauges(self) -> None:
        if self.metrics is None:
            return
        now = self.clock()
        with self.db.read_session() as session:
            counts = outbox.count_by_status(session)
            oldest = outbox.next_due_at(session)
        age = (now - oldest).total_seconds() if oldest is not None and oldest < now else 0.0
        self.metrics.set_outbox(counts.get("pending", 0) + counts.get("sending", 0), age)

    # ---------------------------------------------------------------------- one message
    def _prepare(self, unit: _Unit, row: _RowSnapshot, stats: DispatchStats) -> _Prepared | None:
        """Re-check, rate-limit, address and render a claimed row in ``unit``; ``None`` when the
        row was dropped, held or failed here (recorded in ``unit``)."""
        env = self.env
        now = self.clock()
        bound = log.bind(
            notification_id=row.id,
            incident_id=row.incident_key,
            target=row.target,
            stage=row.stage,
            channel=row.channel,
            recipient=row.recipient,
        )
        # The address is a pure lookup: known before the re-check so that the incident and the
        # thread reference for it are read in one select (it is only checked after the limiter).
        address = row.address or address_for(row.recipient, row.channel, env.settings.file.people)
        incident = None
        thread_ref = None
        if row.incident_id is not None:
            incident, thread_ref = unit.sql.recheck_view(row.incident_id, row.channel, address)
        ictx = context_of(incident, env.settings) if incident is not None else None
        applies, reason = still_applies(
            row.stage,
            row.target,
            ictx.history if ictx is not None else None,
            now,
            covers=row.payload.get("covers"),
        )
        if applies and row.incident_id is None:
            applies, reason = reminder_still_applies(
                unit.session,
                env.settings,
                stage=row.stage,
                account_id=row.account_id,
                payload=row.payload,
                now=now,
            )
        if not applies:
            outbox.mark_dropped(unit.session, row.id, now, reason)
            stats.dropped += 1
            bound.info("notification_dropped", outcome="dropped", reason=reason)
            self._record(row.channel, "dropped", None)
            return None
        wait_s = self.limiter.acquire(
            row.channel, row.recipient, self.monotonic(), urgent=row.urgent
        )
        if wait_s > 0:
            outbox.hold_until(unit.session, row.id, now, now + timedelta(seconds=wait_s))
            stats.held += 1
            return None
        if not address:
            self._fail(
                unit.session,
                row,
                now,
                f"{row.recipient} has no {row.channel} address in the configuration",
                bound,
            )
            stats.failed += 1
            return None
        context = self._context(row, incident, ictx, now)
        message = env.renderer.render(row.stage, row.channel, context).with_meta(
            dedupe_key=row.dedupe_key, incident_id=row.incident_key
        )
        return _Prepared(bound, address, message, thread_ref)

    def _send(
        self, row: _RowSnapshot, prepared: _Prepared, stats: DispatchStats
    ) -> _Accepted | None:
        """Send a prepared row. A failure is recorded here, in a transaction of its own; an
        accepted message is counted and logged at once and returned, for the caller to record
        ``sent`` in its next transaction."""
        env = self.env
        bound, address, message, thread_ref = (
            prepared.bound,
            prepared.address,
            prepared.message,
            prepared.thread_ref,
        )
        sender = env.senders.get(row.channel)
        if sender is None:
            with self.db.session() as session:
                self._fail(
                    session,
                    row,
                    self.clock(),
                    f"no sender for {row.channel}: configure [{row.channel}] or [output]",
                    bound,
                )
            stats.failed += 1
            self._record(row.channel, "failed", None)
            return None
        started = time.perf_counter()
        try:
            result = sender.send(message, address, thread_ref=thread_ref)
        except DeliveryError as exc:
            elapsed = time.perf_counter() - started
            with self.db.session() as session:
                if exc.temporary:
                    self._retry(session, row, self.clock(), exc, bound, stats)
                else:
                    self._fail(session, row, self.clock(), exc.reason, bound)
                    stats.failed += 1
            self._record(row.channel, "retry" if exc.temporary else "failed", elapsed)
            return None
        except Exception as exc:  # a bug in a sender: retry rather than lose the message
            elapsed = time.perf_counter() - started
            bound.exception("sender_crashed")
            error = DeliveryError(f"unexpected {type(exc).__name__}", temporary=True)
            with self.db.session() as session:
                self._retry(session, row, self.clock(), error, bound, stats)
            self._record(row.channel, "retry", elapsed)
            return None
        elapsed = time.perf_counter() - started
        accepted = _Accepted(
            row, self.clock(), address, result.provider_message_id, result.thread_ref
        )
        stats.sent += 1
        self._record(row.channel, "sent", elapsed)
        bound.info(
            "notification_sent",
            outcome="sent",
            address=_mask(row.channel, address),
            provider_message_id=result.provider_message_id,
            duration_ms=round(elapsed * 1000, 1),
            fallback_template=message.fallback,
        )
        return accepted

    def _record(self, channel: str, outcome: str, elapsed: float | None) -> None:
        if self.metrics is not None:
            self.metrics.record_send(channel, outcome, elapsed)

    def _retry(
        self,
        session: Any,
        row: _RowSnapshot,
        now: datetime,
        exc: DeliveryError,
        bound: Any,
        stats: DispatchStats,
    ) -> None:
        delivery = self.env.settings.file.delivery
        decision = next_attempt(
            row.attempts,
            now,
            max_attempts=delivery.max_attempts,
            initial=delivery.retry_initial,
            maximum=delivery.retry_max,
            rand=self.rng.random(),
            retry_after=(
                timedelta(seconds=exc.retry_after_s) if exc.retry_after_s is not None else None
            ),
        )
        if decision.retry and decision.at is not None:
            outbox.mark_retry(session, row.id, now, decision.at, exc.reason)
            stats.retried += 1
            bound.warning(
                "notification_retry",
                outcome="temporary_failure",
                error=exc.reason,
                code=exc.code,
                attempt=row.attempts,
                retry_at=decision.at.isoformat(),
            )
            return
        self._fail(session, row, now, f"{exc.reason} ({decision.reason})", bound)
        stats.failed += 1

    def _fail(self, session: Any, row: _RowSnapshot, now: datetime, error: str, bound: Any) -> None:
        """Mark the row failed and hand the notification to the next fallback channel."""
        outbox.mark_failed(session, row.id, now, error)
        tried = [*row.payload.get("tried_channels", []), row.channel]
        fallback = self.env.settings.file.delivery.fallback.get(row.channel, ())  # type: ignore[call-overload]
        next_channel = next((c for c in fallback if c not in tried), None)
        new_id = None
        if next_channel is not None and address_for(
            row.recipient, next_channel, self.env.settings.file.people
        ):
            new_id = outbox.enqueue(
                session,
                outbox.NewNotification(
                    dedupe_key=f"{row.dedupe_key}|fallback:{next_channel}",
                    kind=row.kind,
                    stage=row.stage,
                    recipient=row.recipient,
                    channel=next_channel,
                    next_attempt_at=now,
                    incident_id=row.incident_id,
                    account_id=row.account_id,
                    target=row.target,
                    step=row.step,
                    repetition=row.repetition,
                    urgent=row.urgent,
                    payload={**row.payload, "tried_channels": tried},
                    fallback_of=row.id,
                ),
                now,
            )
        bound.error(
            "notification_failed",
            outcome="failed",
            error=error,
            fallback_channel=next_channel if new_id is not None else None,
        )

    # -------------------------------------------------------------------------- context
    def _context(
        self, row: _RowSnapshot, incident: Any, ictx: Any, now: datetime
    ) -> dict[str, Any]:
        settings = self.env.settings
        if incident is None or ictx is None:
            account = None
            if row.account_id:
                with self.db.read_session() as session:
                    account = repo.find_account(session, row.account_id)
            return account_notification_context(
                settings, row.stage, account, now, recipient=row.recipient, extra=row.payload
            )
        return incident_notification_context(
            settings,
            row.stage,
            incident,
            ictx,
            now,
            target=row.target,
            recipient=row.recipient,
            extra={
                "reason": row.payload.get("reason"),
                "catchup": {
                    "covers": row.payload.get("covers"),
                    "missed": row.payload.get("missed", []),
                },
            },
        )


@dataclass(frozen=True, slots=True)
class _Prepared:
    """A row ready to send: its log context, address, rendered message and thread reference."""

    bound: Any
    address: str
    message: Any
    thread_ref: str | None


class _Unit:
    """One transaction of the dispatcher: the hot-path statements (``sql``) and, made only when
    a rarer outcome needs one (drop, hold, fail and fallback, reminder re-check), an ORM
    ``session`` joined to the same transaction."""

    __slots__ = ("_conn", "_session", "sql")

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._session: Session | None = None
        self.sql = DispatchSQL(conn)

    @property
    def session(self) -> Session:
        if self._session is None:
            self._session = Session(bind=self._conn, expire_on_commit=False)
            self.sql.use_session(self._session)
        return self._session

    def flush(self) -> None:
        """Write what the session holds; the connection's transaction commits after this."""
        if self._session is not None and self._session.in_transaction():
            self._session.commit()  # joined to the connection's transaction: does not commit it

    def close(self) -> None:
        if self._session is not None:
            self._session.close()


@dataclass(frozen=True, slots=True)
class _Accepted:
    """A row the provider accepted, not yet recorded: what marking it ``sent`` needs."""

    row: _RowSnapshot
    done: datetime
    address: str
    provider_message_id: str | None
    thread_ref: str | None


@dataclass(frozen=True)
class _RowSnapshot:
    """The claimed row's fields, detached from the session that claimed it."""

    id: int
    dedupe_key: str
    kind: str
    incident_id: int | None
    incident_key: str | None
    account_id: str | None
    target: str | None
    stage: str
    step: str | None
    repetition: int
    recipient: str
    channel: str
    address: str | None
    urgent: bool
    attempts: int
    payload: dict[str, Any]

    @classmethod
    def of(cls, row: Any) -> _RowSnapshot:
        """From a :class:`Notification`, a row of ``outbox.claim_rows`` or a ``ClaimedRow``."""
        payload = dict(row.payload or {})
        return cls(
            id=row.id,
            dedupe_key=row.dedupe_key,
            kind=row.kind,
            incident_id=row.incident_id,
            incident_key=str(payload.get("incident_external_id") or row.incident_id or "") or None,
            account_id=row.account_id,
            target=row.target,
            stage=row.stage,
            step=row.step,
            repetition=row.repetition,
            recipient=row.recipient,
            channel=row.channel,
            address=row.address,
            urgent=row.urgent,
            attempts=row.attempts,
            payload=payload,
        )
