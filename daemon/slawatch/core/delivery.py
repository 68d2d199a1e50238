"""Delivery rules for the outbox: what a notice is, its dedupe key, and when (and whether) to send.

Everything the dispatcher decides that is not I/O lives here, so it can be tested with a given
``now``:

* :class:`Notice`: one message to one recipient on one channel, with the reason it exists.
  Produced by :mod:`slawatch.core.policy` (escalations) and :mod:`slawatch.core.paging` (hotline
  pages), written to the outbox by the runtime.
* :func:`dedupe_key`: the outbox's unique key. Two evaluations that decide the same thing produce
  the same key, so the database refuses the duplicate (at-least-once without a flood).
* :func:`select_catch_up`: after downtime, one message per incident for its most severe stage.
* :func:`still_applies`: the re-check just before a send (resolved? acknowledged? target met?).
* :func:`retry_delay` / :func:`next_attempt`: exponential backoff with jitter, honouring
  ``Retry-After``; the caller passes the random number, so tests are exact.
* :class:`TokenBucket` / :class:`RateLimiter`: per-channel and per-recipient limits as plain
  objects that take ``now``; urgent SMS pages are never held back by them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Protocol

from slawatch.core.incident import IncidentHistory
from slawatch.core.sla import clock_runs

__all__ = [
    "STAGE_SEVERITY",
    "Notice",
    "PersonLike",
    "RateLimiter",
    "Releasable",
    "RetryDecision",
    "TokenBucket",
    "address_for",
    "collapse_released",
    "dedupe_key",
    "dispatch_order",
    "next_attempt",
    "retry_delay",
    "select_catch_up",
    "severity",
    "still_applies",
]

#: Template stages and how severe they are. A notice's ``severity`` is this times 1000 plus the
#: percentage of the target consumed at its threshold (capped at 999), so a 90% warning outranks
#: a 75% one and every breach outranks every warning; a catch-up sends the most severe level.
STAGE_SEVERITY: dict[str, int] = {
    "warning": 10,
    "breach": 20,
    "overdue": 30,
    "page": 40,
}


def severity(stage: str, percent: float) -> int:
    """The ordering number described at :data:`STAGE_SEVERITY`."""
    return STAGE_SEVERITY.get(stage, 0) * 1000 + max(0, min(999, int(percent)))


_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_SLACK_CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{6,}$")


class PersonLike(Protocol):
    """What delivery needs to know about a person; ``[people.NAME]`` satisfies it."""

    @property
    def name(self) -> str | None: ...
    @property
    def email(self) -> str | None: ...
    @property
    def slack(self) -> str | None: ...
    @property
    def phone(self) -> str | None: ...
    @property
    def calendar(self) -> str | None: ...


def address_for(recipient: str, channel: str, people: Mapping[str, PersonLike]) -> str | None:
    """The provider address of ``recipient`` on ``channel``, or ``None`` if it has none there.

    * ``#name`` (a channel): Slack only; ``#C0123ABCD`` gives the channel id ``C0123ABCD``,
      anything else the ``#name`` Slack accepts.
    * a person id: Slack -> ``slack`` (a user id or an email to look up), else ``email``;
      email -> ``email``; SMS -> ``phone``.
    * a raw address (an assignee that is not a configured person): an email address works for
      email and Slack (looked up by email), an E.164 number for SMS, anything else is taken as a
      Slack user id.
    """
    if recipient.startswith("#"):
        if channel != "slack":
            return None
        bare = recipient[1:]
        return bare if _SLACK_CHANNEL_ID.match(bare) else recipient
    person = people.get(recipient)
    if person is not None:
        if channel == "slack":
            return person.slack or person.email
        if channel == "email":
            return person.email
        if channel == "sms":
            return person.phone
        return None
    if "@" in recipient:
        return recipient if channel in ("email", "slack") else None
    if _E164.match(recipient):
        return recipient if channel == "sms" else None
    return recipient if channel == "slack" else None


#: Stages whose notices only make sense while the incident is not acknowledged.
_STOPPED_BY_ACK = frozenset({"page"})


def dedupe_key(
    incident: object,
    target: str | None,
    step: str,
    repetition: int,
    recipient: str,
    channel: str,
) -> str:
    """The outbox's unique key: ``incident|target|step|repetition|recipient|channel``.

    ``step`` is the stable id of the rule threshold (``"breach-team"``, ``"page:primary"``), not
    the template stage, so a catch-up message that stands for a step takes that step's key and
    the step is never sent again afterwards. A ``|`` inside a part is replaced by ``/`` so the
    parts cannot run into each other.
    """
    parts = (
        str(incident),
        target or "-",
        step,
        str(repetition),
        recipient,
        channel,
    )
    joined = "|".join(parts)
    if joined.count("|") == len(parts) - 1:  # no part holds a "|" (the usual case)
        return joined
    return "|".join(part.replace("|", "/") for part in parts)


@dataclass(frozen=True, slots=True)
class Notice:
    """One decided message: who gets it, how, when, and why.

    * ``stage``: the template stage: ``warning`` (before due), ``breach`` (at due), ``overdue``
      (after the breach and its repeats), ``page`` (hotline SMS), or ``catchup`` when it stands
      for several stages missed while the daemon was down (``covers`` then names the stage it
      reports and ``missed`` the step ids it replaces).
    * ``step``: the stable id of the rule threshold; with ``repetition`` (0 for the first, k for
      the k-th repeat) it identifies the decision across evaluations.
    * ``recipient``: a person id from ``[people]``, a ``#channel``, or a raw email address or
      phone number (an assignee that is not a configured person).
    * ``at``: the threshold instant (when it became due); ``not_before``: the delivery-hours hold
      (``None``: send at once). The runtime stores ``not_before or at`` as the first attempt.
    * ``urgent``: SMS pages, which jump the queue and ignore rate limits.
    * ``severity``: higher is more severe (:data:`STAGE_SEVERITY`); orders catch-up choices.
    """

    incident: str
    target: str | None
    stage: str
    step: str
    repetition: int
    recipient: str
    channel: str
    at: datetime
    reason: str
    severity: int
    not_before: datetime | None = None
    urgent: bool = False
    kind: str = "escalation"
    covers: str | None = None
    missed: tuple[str, ...] = field(default=())

    @property
    def dedupe_key(self) -> str:
        return dedupe_key(
            self.incident, self.target, self.step, self.repetition, self.recipient, self.channel
        )

    @property
    def send_at(self) -> datetime:
        """When the dispatcher may first try it: the hold if any, else the threshold instant."""
        return self.not_before if self.not_before is not None else self.at

    @property
    def catch_up(self) -> bool:
        return self.stage == "catchup"

    def as_dict(self) -> dict[str, object]:
        """Plain values for JSON output and outbox payloads (datetimes as ISO 8601)."""
        return {
            "incident": self.incident,
            "target": self.target,
            "stage": self.stage,
            "step": self.step,
            "repetition": self.repetition,
            "recipient": self.recipient,
            "channel": self.channel,
            "at": self.at.isoformat(),
            "not_before": self.not_before.isoformat() if self.not_before else None,
            "urgent": self.urgent,
            "kind": self.kind,
            "severity": self.severity,
            "covers": self.covers,
            "missed": list(self.missed),
            "reason": self.reason,
            "dedupe_key": self.dedupe_key,
        }


# ------------------------------------------------------------------------------- catch-up
def _level(notice: Notice) -> tuple[str | None, str, datetime]:
    """Notices that became due together (same target, stage and instant) form one level: the
    breach rules for the team, the manager and the CSM are one level, sent or skipped together."""
    return (notice.target, notice.stage, notice.at)


def select_catch_up(
    due: Sequence[Notice], now: datetime, grace: timedelta
) -> tuple[list[Notice], list[Notice]]:
    """Split one incident's due, unsent notices into ``(send, skipped)``.

    Normal operation (a scan every 30 s): every level that became due within ``grace`` before
    ``now`` is sent as it is, and rules sharing one threshold (breach: team, manager, CSM) all
    fire. Catch-up: when more than one level is due and at least one of them became due longer
    ago than ``grace`` (the daemon was down, the incident was imported late, or a priority upgrade
    moved thresholds into the past), only the most severe level is sent, once per recipient and
    channel, as stage ``catchup``; the others are returned as ``skipped`` so the runtime records
    them (status ``dropped``, reason "superseded by catch-up") and never sends them later.

    Severity: the stage (:data:`STAGE_SEVERITY`), then the later threshold instant. All notices
    must belong to one incident.
    """
    if not due:
        return [], []
    levels: dict[tuple[str | None, str, datetime], list[Notice]] = {}
    for notice in due:
        levels.setdefault(_level(notice), []).append(notice)
    stale = any(n.at < now - grace for n in due)
    if len(levels) < 2 or not stale:
        return list(due), []
    best_key = max(levels, key=lambda k: (max(n.severity for n in levels[k]), k[2], k[0] or ""))
    chosen = levels[best_key]
    others = [n for key, group in levels.items() if key != best_key for n in group]
    missed = tuple(sorted({f"{n.target or '-'}:{n.step}#{n.repetition}" for n in others}))
    send = [
        replace(
            n,
            stage="catchup",
            covers=n.stage,
            missed=missed,
            reason=(
                f"catch-up: {len(missed)} earlier step(s) were missed while not evaluated; "
                f"sending only the most severe: {n.reason}"
            ),
        )
        for n in chosen
    ]
    skipped = [
        replace(n, reason=f"superseded by catch-up ({chosen[0].target} {chosen[0].stage})")
        for n in others
    ]
    return send, skipped


@dataclass(frozen=True, slots=True)
class Releasable:
    """A due outbox row as :func:`collapse_released` needs it (any id type the caller uses)."""

    id: object
    incident: str | None
    target: str | None
    recipient: str
    channel: str
    severity: int
    stage: str


def collapse_released(rows: Sequence[Releasable]) -> tuple[list[Releasable], list[Releasable]]:
    """Messages held for delivery hours are released together (Monday 09:00): for each incident,
    recipient and channel, keep only the most severe one and drop the rest, so a CSM gets "the
    response target is breached", not also the 50%, 75% and 90% warnings an hour late.

    Returns ``(keep, drop)``; rows without an incident (reminders) and pages are always kept.
    Record the dropped ones with reason "superseded by a more severe message".
    """
    best: dict[tuple[str, str, str], Releasable] = {}
    keep: list[Releasable] = []
    for row in rows:
        if row.incident is None or row.stage == "page":
            keep.append(row)
            continue
        key = (row.incident, row.recipient, row.channel)
        current = best.get(key)
        if current is None or row.severity > current.severity:
            best[key] = row
    chosen = {id(r) for r in best.values()}
    drop = [r for r in rows if r.incident is not None and r.stage != "page" and id(r) not in chosen]
    keep.extend(best.values())
    return keep, drop


# -------------------------------------------------------------------------------- re-check
def still_applies(
    stage: str,
    target: str | None,
    history: IncidentHistory | None,
    now: datetime,
    *,
    covers: str | None = None,
) -> tuple[bool, str]:
    """The re-check just before a send: ``(True, "")`` or ``(False, reason to record)``.

    An incident notice is dropped when the incident is resolved, when its target's clock has
    stopped (met: responded, workaround given or resolved) and, for pages, when the incident was
    acknowledged (or responded to) or is no longer high priority. Notices without an incident
    (meeting reminders, tests) always apply. ``covers`` is the stage a ``catchup`` notice stands
    for.
    """
    if history is None:
        return True, ""
    state = history.state(now)
    if state.resolved:
        return False, "incident resolved"
    effective = covers if stage == "catchup" and covers else stage
    if effective in _STOPPED_BY_ACK:
        if state.acknowledged_at is not None:
            who = f" by {state.acknowledged_by}" if state.acknowledged_by else ""
            return False, f"acknowledged{who} at {state.acknowledged_at.isoformat()}"
        if state.responded_at is not None:
            return False, f"responded at {state.responded_at.isoformat()}"
        if state.priority != "high":
            return False, f"priority changed to {state.priority}; pages are for high"
    if target is not None and effective != "page":
        run = clock_runs(history, now).get(target)
        if run is not None and run.stopped_at is not None:
            return False, f"{target} target met at {run.stopped_at.isoformat()}"
    return True, ""


# --------------------------------------------------------------------------------- retries
@dataclass(frozen=True, slots=True)
class RetryDecision:
    """What to do after a temporary failure: retry at ``at``, or give up (``at`` is None)."""

    retry: bool
    at: datetime | None
    delay: timedelta | None
    reason: str


#: Longest Retry-After we honour; a provider asking for more is treated as this.
MAX_RETRY_AFTER = timedelta(hours=6)


def retry_delay(
    attempt: int,
    *,
    initial: timedelta,
    maximum: timedelta,
    rand: float,
    retry_after: timedelta | None = None,
) -> timedelta:
    """The wait before attempt ``attempt + 1`` after ``attempt`` failed attempts (1-based).

    Exponential: ``initial * 2**(attempt - 1)``, capped at ``maximum``, with "equal jitter" (a
    uniform pick between half and all of it, from ``rand`` in ``[0, 1)``) so that 500 messages
    failing together do not retry together. A provider's ``Retry-After`` is a floor: we never
    retry sooner than it asks, even beyond ``maximum`` (up to :data:`MAX_RETRY_AFTER`).
    """
    if attempt < 1:
        raise ValueError("attempt counts failed attempts and starts at 1")
    if not 0.0 <= rand <= 1.0:
        raise ValueError("rand must be in [0, 1]")
    exponent = min(attempt - 1, 62)
    base = min(initial * (2**exponent) if exponent < 40 else maximum, maximum)
    delay = base / 2 + (base / 2) * rand
    if retry_after is not None and retry_after > delay:
        delay = min(retry_after, MAX_RETRY_AFTER)
    return delay


def next_attempt(
    attempts: int,
    now: datetime,
    *,
    max_attempts: int,
    initial: timedelta,
    maximum: timedelta,
    rand: float,
    retry_after: timedelta | None = None,
) -> RetryDecision:
    """After ``attempts`` failed temporary attempts: retry when, or give up after the last."""
    if attempts >= max_attempts:
        return RetryDecision(False, None, None, f"gave up after {attempts} attempts")
    delay = retry_delay(
        attempts, initial=initial, maximum=maximum, rand=rand, retry_after=retry_after
    )
    why = "Retry-After" if retry_after is not None and delay >= retry_after else "backoff"
    return RetryDecision(True, now + delay, delay, f"retry {attempts + 1} in {delay} ({why})")


# ----------------------------------------------------------------------------- rate limits
class TokenBucket:
    """A token bucket: ``rate_per_s`` tokens a second, at most ``capacity`` saved up.

    ``now`` is any monotonic clock in seconds (the dispatcher passes its monotonic clock, tests
    pass numbers). Not thread-safe: one dispatcher owns it.
    """

    __slots__ = ("_last", "_tokens", "capacity", "rate_per_s")

    def __init__(self, rate_per_s: float, capacity: float, now: float = 0.0) -> None:
        if rate_per_s <= 0 or capacity < 1:
            raise ValueError("a bucket needs a positive rate and room for at least one token")
        self.rate_per_s = rate_per_s
        self.capacity = capacity
        self._tokens = float(capacity)
        self._last = now

    @classmethod
    def per_minute(
        cls, per_minute: int, now: float = 0.0, burst: float | None = None
    ) -> TokenBucket:
        """A bucket allowing ``per_minute`` a minute; the burst defaults to a sixth of that."""
        capacity = burst if burst is not None else max(1.0, per_minute / 6)
        return cls(per_minute / 60.0, capacity, now)

    def _refill(self, now: float) -> None:
        if now > self._last:
            self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate_per_s)
            self._last = now

    def tokens(self, now: float) -> float:
        self._refill(now)
        return self._tokens

    def wait_s(self, now: float, cost: float = 1.0) -> float:
        """Seconds until ``cost`` tokens are available (0.0: now)."""
        self._refill(now)
        missing = cost - self._tokens
        return 0.0 if missing <= 0 else missing / self.rate_per_s

    def take(self, now: float, cost: float = 1.0, *, force: bool = False) -> bool:
        """Take ``cost`` tokens if available; ``force`` takes them anyway (the balance may go
        negative, which delays the next non-forced takers: urgent pages borrow, never wait)."""
        self._refill(now)
        if self._tokens >= cost or force:
            self._tokens -= cost
            return True
        return False


class RateLimiter:
    """Per-channel and per-(channel, recipient) token buckets.

    ``acquire`` answers "may this message go now?": ``0.0`` means yes (tokens taken), otherwise
    the seconds to wait (nothing taken). Urgent messages (SMS pages) always get ``0.0`` and
    borrow tokens, so a burst of Slack or email never delays a page (channels have separate
    buckets) and even an SMS burst does not. Idle recipient buckets are forgotten by
    :meth:`prune` to bound memory.
    """

    def __init__(
        self,
        channel_per_minute: dict[str, int],
        recipient_per_minute: dict[str, int],
        now: float = 0.0,
    ) -> None:
        self._channel = {
            ch: TokenBucket.per_minute(rate, now) for ch, rate in channel_per_minute.items()
        }
        self._recipient_rates = dict(recipient_per_minute)
        self._recipient: dict[tuple[str, str], TokenBucket] = {}

    def _buckets(self, channel: str, recipient: str, now: float) -> list[TokenBucket]:
        buckets: list[TokenBucket] = []
        if channel in self._channel:
            buckets.append(self._channel[channel])
        rate = self._recipient_rates.get(channel)
        if rate:
            key = (channel, recipient)
            bucket = self._recipient.get(key)
            if bucket is None:
                bucket = self._recipient[key] = TokenBucket.per_minute(rate, now)
            buckets.append(bucket)
        return buckets

    def wait_s(self, channel: str, recipient: str, now: float) -> float:
        return max((b.wait_s(now) for b in self._buckets(channel, recipient, now)), default=0.0)

    def acquire(self, channel: str, recipient: str, now: float, *, urgent: bool = False) -> float:
        buckets = self._buckets(channel, recipient, now)
        if urgent:
            for bucket in buckets:
                bucket.take(now, force=True)
            return 0.0
        wait = max((b.wait_s(now) for b in buckets), default=0.0)
        if wait > 0:
            return wait
        for bucket in buckets:
            bucket.take(now)
        return 0.0

    def prune(self, now: float) -> int:
        """Forget recipient buckets that are full again; returns how many were dropped."""
        full = [k for k, b in self._recipient.items() if b.tokens(now) >= b.capacity]
        for key in full:
            del self._recipient[key]
        return len(full)


def dispatch_order(urgent: bool, severity: int, send_at: datetime) -> tuple[int, int, datetime]:
    """Sort key for due outbox rows: urgent pages first, then the more severe, then the oldest."""
    return (0 if urgent else 1, -severity, send_at)


def dedupe_keys(notices: Iterable[Notice]) -> set[str]:
    """The keys of ``notices``; handy to grow ``sent_keys`` in simulations and tests."""
    return {n.dedupe_key for n in notices}
