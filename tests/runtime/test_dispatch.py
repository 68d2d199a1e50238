"""The outbox dispatcher against real local provider servers, on a real SQLite database.

Slack, Twilio and SMTP are the fakes in ``tests/fakes`` driven through the real slack-sdk,
twilio and smtplib senders built by the composition root from a config file; the clock (wall
and monotonic) is the test's, so retries, holds and re-checks are exact.
"""

from __future__ import annotations

import io
import random
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from daemon_env import ACME, ENVIRON, IVAN_PHONE, load_settings
from fakes.fixtures import fake_slack, fake_smtp, fake_twilio  # noqa: F401
from fakes.slack import FakeSlack
from fakes.smtp import FakeSmtp
from fakes.twilio import FakeTwilio
from slawatch.config.loader import Settings
from slawatch.config.policy_context import policy_context
from slawatch.runtime.dispatch import Dispatcher
from slawatch.service.escalation import evaluate_incidents
from slawatch.service.incidents import EventInput, IncidentInput
from slawatch.service.intake import Intake
from slawatch.store import outbox, repo
from slawatch.store.db import Database
from slawatch.store.models import Notification, Thread
from slawatch.wiring import build_dispatch_env, build_limiter

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


@dataclass
class Clock:
    """The dispatcher's wall clock and monotonic clock, moved by the test."""

    now: datetime
    mono: float = 1000.0

    def advance(self, **delta: float) -> None:
        step = timedelta(**delta)
        self.now += step
        self.mono += step.total_seconds()


@dataclass
class Env:
    db: Database
    settings: Settings
    clock: Clock
    slack: FakeSlack
    twilio: FakeTwilio
    smtp: FakeSmtp
    console: io.StringIO

    def intake(self) -> Intake:
        return Intake(self.db, self.settings, clock=lambda: self.clock.now)

    def open(self, key: str, priority: str = "medium", hotline: bool = False) -> int:
        intake = self.intake()
        intake.open_incident(
            IncidentInput(
                external_id=key,
                account="acme",
                priority=priority,
                title=f"Trouble {key}",
                opened_at=T0,
                via_hotline=hotline,
            )
        )
        return intake.incident_id(key)

    def event(self, key: str, kind: str, by: str | None = None) -> None:
        self.intake().record_event(key, EventInput(type=kind, by=by))

    def evaluate(self, *incident_ids: int) -> int:
        with self.db.session() as session:
            incidents = repo.load_incidents(session, list(incident_ids))
            summary = evaluate_incidents(
                session, incidents, self.settings, policy_context(self.settings), self.clock.now
            )
        return summary.enqueued

    def dispatcher(self) -> Dispatcher:
        env = build_dispatch_env(self.settings, db=self.db, stream=self.console, environ=ENVIRON)
        return Dispatcher(
            self.db,
            env,
            limiter=build_limiter(self.settings, self.clock.mono),
            clock=lambda: self.clock.now,
            monotonic=lambda: self.clock.mono,
            rng=random.Random(7),
        )

    def rows(self) -> list[Notification]:
        with self.db.read_session() as session:
            found = list(session.execute(select(Notification).order_by(Notification.id)).scalars())
            session.expunge_all()
        return found


def make_env(
    tmp_path: Path,
    template: Path,
    slack: FakeSlack,
    twilio: FakeTwilio,
    smtp: FakeSmtp,
    **config: Any,
) -> Iterator[Env]:
    path = tmp_path / "slawatch.db"
    shutil.copyfile(template, path)
    db = Database(f"sqlite:///{path}")
    yield from make_env_on(db, tmp_path, slack, twilio, smtp, **config)
    db.dispose()


def make_env_on(
    db: Database,
    tmp_path: Path,
    slack: FakeSlack,
    twilio: FakeTwilio,
    smtp: FakeSmtp,
    **config: Any,
) -> Iterator[Env]:
    """An :class:`Env` on a given migrated, empty database (the caller disposes of it)."""
    settings = load_settings(
        tmp_path / "slawatch.toml",
        slack_url=slack.base_url,
        twilio_url=twilio.url,
        smtp_port=smtp.port,
        **config,
    )
    slack.users["lead@example.com"] = "U0LEAD"
    env = Env(db, settings, Clock(T0), slack, twilio, smtp, io.StringIO())
    env.intake().put_account("acme", ACME)
    yield env


@pytest.fixture
def env(
    tmp_path: Path,
    _sqlite_template: Path,
    fake_slack: FakeSlack,  # noqa: F811
    fake_twilio: FakeTwilio,  # noqa: F811
    fake_smtp: FakeSmtp,  # noqa: F811
) -> Iterator[Env]:
    yield from make_env(tmp_path, _sqlite_template, fake_slack, fake_twilio, fake_smtp)


@pytest.fixture
def backend_env(
    db: Database,
    tmp_path: Path,
    fake_slack: FakeSlack,  # noqa: F811
    fake_twilio: FakeTwilio,  # noqa: F811
    fake_smtp: FakeSmtp,  # noqa: F811
) -> Iterator[Env]:
    """``env`` on each backend (SQLite, PostgreSQL): the dispatcher's own SQL runs on both."""
    yield from make_env_on(db, tmp_path, fake_slack, fake_twilio, fake_smtp)


def by_step(rows: list[Notification]) -> dict[tuple[str | None, str, str], Notification]:
    return {(r.step, r.recipient, r.channel): r for r in rows}


# ----------------------------------------------------------------------------------- sending
def test_each_channel_is_sent_and_recorded_with_the_provider_id(env: Env) -> None:
    incident = env.open("INC-1")
    hotline = env.open("HOT-1", priority="high", hotline=True)
    assert env.evaluate(hotline) == 1  # the page, at once
    for minutes in (5, 7.5, 9):
        env.clock.now = T0 + timedelta(minutes=minutes, seconds=1)
        env.evaluate(incident)
    stats = env.dispatcher().run_once()
    rows = by_step(env.rows())
    assert stats.sent == len(rows) == 5
    assert all(r.status == "sent" and r.sent_at == env.clock.now for r in rows.values())

    (sms,) = env.twilio.messages
    page = rows[("page:primary", "ivan", "sms")]
    assert sms["to"] == IVAN_PHONE and page.provider_message_id == sms["sid"]
    assert page.address == IVAN_PHONE
    assert "HOT-1" in sms["body"]

    posted = {m.channel: m for m in env.slack.messages}
    assert set(posted) == {"C0SUPPORT", "D0MARIA", "D0LEAD"}
    assert rows[("team-50", "#support", "slack")].provider_message_id == posted["C0SUPPORT"].ts
    assert rows[("csm-75", "maria", "slack")].provider_message_id == posted["D0MARIA"].ts
    assert "INC-1" in (posted["C0SUPPORT"].text or "")

    (mail,) = env.smtp.received
    assert mail.rcpt_tos == ["lead@example.com"]
    lead_mail = rows[("lead-90", "lead", "email")]
    assert lead_mail.provider_message_id == mail.message["Message-ID"]
    assert "INC-1" in str(mail.message["Subject"])
    # A second run has nothing left to do: nothing is sent twice.
    assert env.dispatcher().run_once().sent == 0
    assert len(env.slack.messages) == 3 and len(env.twilio.messages) == 1


def test_later_slack_messages_about_an_incident_go_to_its_thread(env: Env) -> None:
    incident = env.open("INC-1")
    env.clock.now = T0 + timedelta(minutes=5, seconds=1)
    env.evaluate(incident)
    env.dispatcher().run_once()
    first = env.slack.messages[0]
    assert first.channel == "C0SUPPORT" and first.thread_ts is None
    env.clock.now = T0 + timedelta(minutes=10, seconds=1)
    env.evaluate(incident)  # 75%, 90% and the breach (on time: no catch-up)
    env.dispatcher().run_once()
    team = [m for m in env.slack.messages if m.channel == "C0SUPPORT"]
    assert len(team) == 2
    assert team[1].thread_ts == first.ts
    maria = [m for m in env.slack.messages if m.channel == "D0MARIA"]
    assert [m.thread_ts for m in maria] == [None, maria[0].ts]  # csm-75, then breach-csm
    with env.db.read_session() as session:
        threads = {
            (t.channel, t.address): t.thread_ref for t in session.execute(select(Thread)).scalars()
        }
    assert threads[("slack", "#support")] == first.ts


# ---------------------------------------------------------------------------------- re-check
@pytest.mark.parametrize(
    ("priority", "hotline", "event", "by", "reason"),
    [
        ("medium", False, "resolved", None, "incident resolved"),
        ("medium", False, "responded", None, "response target met at"),
        ("high", True, "acknowledged", "ivan", "acknowledged by ivan at"),
    ],
)
def test_a_notification_that_no_longer_applies_is_dropped(
    env: Env, priority: str, hotline: bool, event: str, by: str | None, reason: str
) -> None:
    incident = env.open("INC-1", priority=priority, hotline=hotline)
    env.clock.now = T0 + timedelta(minutes=0 if hotline else 5, seconds=1)
    assert env.evaluate(incident) == 1
    env.clock.advance(seconds=10)
    env.event("INC-1", event, by=by)
    env.clock.advance(seconds=1)
    stats = env.dispatcher().run_once()
    (row,) = env.rows()
    assert (stats.dropped, stats.sent, row.status) == (1, 0, "dropped")
    assert row.drop_reason is not None and row.drop_reason.startswith(reason)
    assert env.slack.messages == [] and env.twilio.messages == []


# ---------------------------------------------------------------------------------- failures
def test_slack_rate_limit_is_retried_no_sooner_than_retry_after(env: Env) -> None:
    incident = env.open("INC-1")
    env.clock.now = T0 + timedelta(minutes=5, seconds=1)
    env.evaluate(incident)
    env.slack.rate_limit(retry_after=7)
    dispatcher = env.dispatcher()
    stats = dispatcher.run_once()
    (row,) = env.rows()
    assert (stats.retried, row.status, row.attempts) == (1, "pending", 1)
    assert "rate limit" in (row.last_error or "")
    assert row.next_attempt_at >= env.clock.now + timedelta(seconds=7)
    env.clock.advance(seconds=6)
    assert dispatcher.run_once().sent == 0  # not before Retry-After
    env.clock.now = row.next_attempt_at
    assert dispatcher.run_once().sent == 1
    (row,) = env.rows()
    assert (row.status, row.attempts, row.last_error) == ("sent", 2, None)
    assert len(env.slack.messages) == 1


def test_server_errors_back_off_exponentially_then_succeed(env: Env) -> None:
    incident = env.open("INC-1")
    env.clock.now = T0 + timedelta(minutes=5, seconds=1)
    env.evaluate(incident)
    env.slack.server_error(status=503, times=2)
    dispatcher = env.dispatcher()
    delays = []
    for _ in range(2):
        before = env.clock.now
        assert dispatcher.run_once().retried == 1
        (row,) = env.rows()
        assert row.status == "pending" and "HTTP 503" in (row.last_error or "")
        delays.append((row.next_attempt_at - before).total_seconds())
        env.clock.now = row.next_attempt_at
    # retry_initial 1s with equal jitter: [0.5, 1], then [1, 2]
    assert 0.5 <= delays[0] <= 1.0 and 1.0 <= delays[1] <= 2.0
    assert dispatcher.run_once().sent == 1
    assert env.rows()[0].attempts == 3


def test_retries_stop_at_max_attempts_and_fall_back(env: Env) -> None:
    incident = env.open("INC-1")
    env.clock.now = T0 + timedelta(minutes=7, seconds=31)
    env.evaluate(incident)  # 50% (team channel) and 75% (maria)
    env.slack.server_error(status=500, times=50)
    dispatcher = env.dispatcher()
    for _ in range(6):
        dispatcher.run_once()
        env.clock.advance(seconds=30)
    rows = by_step(env.rows())
    maria = rows[("csm-75", "maria", "slack")]
    assert (maria.status, maria.attempts) == ("failed", 5)
    assert "gave up after 5 attempts" in (maria.last_error or "")
    fallback = rows[("csm-75", "maria", "email")]
    assert fallback.status == "sent" and fallback.fallback_of == maria.id
    assert [m.rcpt_tos for m in env.smtp.received] == [["maria@example.com"]]
    # The team channel has no email address: failed, with no fallback row.
    assert rows[("team-50", "#support", "slack")].status == "failed"
    assert len(env.rows()) == 3


def test_slack_channel_not_found_fails_at_once_and_falls_back_to_email(env: Env) -> None:
    incident = env.open("INC-1")
    env.clock.now = T0 + timedelta(minutes=7, seconds=31)
    env.evaluate(incident)
    env.slack.error("channel_not_found", times=2)
    stats = env.dispatcher().run_once()
    rows = by_step(env.rows())
    maria = rows[("csm-75", "maria", "slack")]
    assert (maria.status, maria.attempts) == ("failed", 1)
    assert "channel_not_found" in (maria.last_error or "")
    fallback = rows[("csm-75", "maria", "email")]
    assert fallback.fallback_of == maria.id
    assert fallback.dedupe_key == maria.dedupe_key + "|fallback:email"
    assert fallback.status == "sent"  # in the same run: the person is still told
    (mail,) = env.smtp.received
    assert mail.rcpt_tos == ["maria@example.com"]
    assert fallback.provider_message_id == mail.message["Message-ID"]
    assert stats.failed == 2 and stats.sent == 1  # the team channel has no fallback


def test_twilio_invalid_number_fails_the_page_and_falls_back_to_email(env: Env) -> None:
    hotline = env.open("HOT-1", priority="high", hotline=True)
    env.evaluate(hotline)
    env.twilio.error(400, 21211, "The 'To' number is not a valid phone number.")
    env.dispatcher().run_once()
    rows = by_step(env.rows())
    page = rows[("page:primary", "ivan", "sms")]
    assert (page.status, page.attempts) == ("failed", 1)
    assert "21211" in (page.last_error or "")
    fallback = rows[("page:primary", "ivan", "email")]
    assert (fallback.status, fallback.urgent, fallback.fallback_of) == ("sent", True, page.id)
    assert [m.rcpt_tos for m in env.smtp.received] == [["ivan@example.com"]]
    assert env.twilio.messages == []


def test_an_exception_in_a_sender_is_retried_not_lost(env: Env) -> None:
    incident = env.open("INC-1")
    env.clock.now = T0 + timedelta(minutes=5, seconds=1)
    env.evaluate(incident)
    dispatcher = env.dispatcher()

    class Broken:
        channels = frozenset({"slack"})

        def send(self, *args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("bug")

    dispatcher.env = type(dispatcher.env)(
        dispatcher.env.settings,
        dispatcher.env.policy,
        {**dispatcher.env.senders, "slack": Broken()},  # type: ignore[dict-item]
        dispatcher.env.renderer,
    )
    assert dispatcher.run_once().retried == 1
    (row,) = env.rows()
    assert row.status == "pending" and "RuntimeError" in (row.last_error or "")


# ------------------------------------------------------------------------------ rate limits
@pytest.fixture
def slow_env(
    tmp_path: Path,
    _sqlite_template: Path,
    fake_slack: FakeSlack,  # noqa: F811
    fake_twilio: FakeTwilio,  # noqa: F811
    fake_smtp: FakeSmtp,  # noqa: F811
) -> Iterator[Env]:
    """Slack limited to 6 a minute (a burst of one), SMS to 6 a minute."""
    yield from make_env(
        tmp_path,
        _sqlite_template,
        fake_slack,
        fake_twilio,
        fake_smtp,
        channel_rate="{ slack = 6, email = 120, sms = 6 }",
    )


def test_a_burst_is_held_by_the_rate_limit_and_a_page_still_goes_first(slow_env: Env) -> None:
    env = slow_env
    ids = [env.open(f"INC-{n}") for n in range(6)]
    env.clock.now = T0 + timedelta(minutes=5, seconds=1)
    env.evaluate(*ids)  # six team-channel warnings, due at once
    hotline = env.open("HOT-1", priority="high", hotline=True)
    env.evaluate(hotline)  # the page is enqueued last
    dispatcher = env.dispatcher()
    stats = dispatcher.run_once()
    assert (stats.sent, stats.held) == (2, 5)  # the page and one Slack message
    first = min(env.slack.requests + env.twilio.requests, key=lambda r: r.at)
    assert "/Messages.json" in first.path  # the page jumped the queue
    held = [r for r in env.rows() if r.status == "pending"]
    assert len(held) == 5
    assert all(r.next_attempt_at > env.clock.now for r in held)
    assert all(r.attempts == 0 for r in held)  # holding is not an attempt
    # Steady: 6 a minute is one every 10 s.
    env.clock.advance(seconds=10)
    assert dispatcher.run_once().sent == 1
    env.clock.advance(seconds=60)
    assert dispatcher.run_once().sent == 1  # the bucket holds one token at most
    for _ in range(3):
        env.clock.advance(seconds=10)
        dispatcher.run_once()
    assert len(env.slack.messages) == 6
    assert {r.status for r in env.rows()} == {"sent"}


def test_pages_are_never_held_by_the_sms_rate_limit(slow_env: Env) -> None:
    env = slow_env
    ids = [env.open(f"HOT-{n}", priority="high", hotline=True) for n in range(4)]
    env.evaluate(*ids)
    stats = env.dispatcher().run_once()
    assert (stats.sent, stats.held) == (4, 0)
    assert len(env.twilio.messages) == 4


# -------------------------------------------------------------------------------- crashes
def test_a_row_left_sending_by_a_crash_is_sent_once_more_and_no_other_twice(env: Env) -> None:
    ids = [env.open(f"INC-{n}") for n in range(3)]
    env.clock.now = T0 + timedelta(minutes=5, seconds=1)
    env.evaluate(*ids)
    # The crash: a dispatcher claimed a row and the provider got it, but the process died
    # before recording the outcome.
    with env.db.session() as session:
        (claimed,) = outbox.claim(session, env.clock.now, limit=1)
        in_flight_id = claimed.id
    doomed = env.dispatcher()
    doomed.limiter.acquire("slack", "#support", env.clock.mono)
    row = next(r for r in env.rows() if r.id == in_flight_id)
    assert row.status == "sending"
    with env.db.session() as session:
        from slawatch.runtime.dispatch import _RowSnapshot

        snapshot = _RowSnapshot.of(session.get(Notification, in_flight_id))  # type: ignore[arg-type]
    first_copy = _send_without_recording(doomed, snapshot, env)
    # Restart: requeue what was in flight, then dispatch.
    env.clock.advance(seconds=30)
    with env.db.session() as session:
        assert outbox.requeue_in_flight(session, env.clock.now) == 1
    stats = env.dispatcher().run_once()
    assert stats.sent == 3
    rows = env.rows()
    assert {r.status for r in rows} == {"sent"}
    assert {r.id: r.attempts for r in rows}[in_flight_id] == 2
    recorded = {r.provider_message_id for r in rows}
    extra = [m for m in env.slack.messages if m.ts not in recorded]
    assert [m.ts for m in extra] == [first_copy]  # only the in-flight message, once more
    assert len(env.slack.messages) == 4
    texts = [m.text for m in env.slack.messages]
    in_flight_text = next(m.text for m in env.slack.messages if m.ts == first_copy)
    assert texts.count(in_flight_text) == 2
    assert all(texts.count(t) == 1 for t in texts if t != in_flight_text)


def _send_without_recording(dispatcher: Dispatcher, snapshot: Any, env: Env) -> str:
    """Deliver a claimed row through the real sender, as the crashed process did."""
    with env.db.session() as session:
        incident = repo.load_incidents(session, [snapshot.incident_id])[0]
        from slawatch.service.evaluation import context_of

        ictx = context_of(incident, env.settings)
        context = dispatcher._context(snapshot, incident, ictx, env.clock.now)
    message = dispatcher.env.renderer.render(snapshot.stage, snapshot.channel, context)
    result = dispatcher.env.senders["slack"].send(message, "#support", thread_ref=None)
    assert result.provider_message_id is not None
    return result.provider_message_id


def test_while_a_message_is_sent_it_is_the_only_sending_row_and_earlier_ones_are_recorded(
    env: Env,
) -> None:
    """A sent row is recorded in the transaction that claims the next one: whenever a sender
    runs, the committed outbox has exactly that row ``sending`` and every earlier one ``sent``
    with its provider id."""
    ids = [env.open(f"INC-{n}") for n in range(3)]  # the channel's rate limit holds a 4th
    env.clock.now = T0 + timedelta(minutes=5, seconds=1)
    env.evaluate(*ids)
    dispatcher = env.dispatcher()
    slack = dispatcher.env.senders["slack"]
    seen: list[tuple[list[str], list[str | None]]] = []
    returned: list[str | None] = []

    class Watching:
        channels = slack.channels

        def send(self, message: Any, address: str, *, thread_ref: str | None) -> Any:
            rows = env.rows()
            sending = [r.payload["incident_external_id"] for r in rows if r.status == "sending"]
            sent = [r.provider_message_id for r in rows if r.status == "sent"]
            seen.append((sending, sent))
            result = slack.send(message, address, thread_ref=thread_ref)
            returned.append(result.provider_message_id)
            return result

    dispatcher.env = replace(dispatcher.env, senders={"slack": Watching()})
    assert dispatcher.run_once().sent == 3
    assert [len(sending) for sending, _ in seen] == [1, 1, 1]
    assert [sent for _, sent in seen] == [returned[:n] for n in range(3)]
    assert {r.status for r in env.rows()} == {"sent"}


def test_a_row_that_cannot_be_prepared_is_retried_and_does_not_stop_the_others(env: Env) -> None:
    ids = [env.open(f"INC-{n}") for n in range(3)]
    env.clock.now = T0 + timedelta(minutes=5, seconds=1)
    env.evaluate(*ids)
    dispatcher = env.dispatcher()
    renderer = dispatcher.env.renderer
    real_render = renderer.render

    def render(stage: str, channel: str, context: Any) -> Any:
        if context["incident"]["id"] == "INC-1":
            raise RuntimeError("bug in building the message")
        return real_render(stage, channel, context)

    renderer.render = render  # type: ignore[method-assign]
    stats = dispatcher.run_once()
    assert (stats.sent, stats.retried) == (2, 1)
    rows = {r.payload["incident_external_id"]: r for r in env.rows()}
    broken = rows["INC-1"]
    # Not stuck in 'sending' until a restart: back to pending, with the error and a backoff.
    assert broken.status == "pending" and "RuntimeError" in (broken.last_error or "")
    assert broken.next_attempt_at > env.clock.now
    assert rows["INC-0"].status == rows["INC-2"].status == "sent"
    renderer.render = real_render  # type: ignore[method-assign]
    env.clock.advance(seconds=(broken.next_attempt_at - env.clock.now).total_seconds() + 10)
    assert dispatcher.run_once().sent == 1


# ------------------------------------------------------------------------ released together
def test_messages_released_together_reach_a_person_once_with_the_most_severe(env: Env) -> None:
    """A weekend hold releases the 75% warning and the breach for maria at once: she gets the
    breach only; the warning is dropped with the reason. Other recipients are untouched."""
    incident = env.open("INC-1")
    held = env.clock.now - timedelta(minutes=1)

    def row(step: str, stage: str, severity: int, recipient: str) -> outbox.NewNotification:
        return outbox.NewNotification(
            dedupe_key=f"{incident}|response|{step}|0|{recipient}|slack",
            kind="escalation",
            stage=stage,
            recipient=recipient,
            channel="slack",
            next_attempt_at=held,
            incident_id=incident,
            account_id="acme",
            target="response",
            step=step,
            not_before=held,
            payload={"severity": severity, "incident_external_id": "INC-1"},
        )

    with env.db.session() as session:
        warning = outbox.enqueue(session, row("csm-75", "warning", 75, "maria"), env.clock.now)
        breach = outbox.enqueue(session, row("breach-csm", "breach", 200, "maria"), env.clock.now)
        team = outbox.enqueue(session, row("team-50", "warning", 50, "#support"), env.clock.now)
    stats = env.dispatcher().run_once()
    status = {r.id: (r.status, r.drop_reason) for r in env.rows()}
    assert status[warning][0] == "dropped"
    assert "more severe" in (status[warning][1] or "")
    assert status[breach][0] == "sent" and status[team][0] == "sent"
    assert (stats.sent, stats.dropped) == (2, 1)


# ------------------------------------------------------------------------------ both backends
@pytest.mark.parametrize(
    "scenario",
    [
        test_each_channel_is_sent_and_recorded_with_the_provider_id,
        test_later_slack_messages_about_an_incident_go_to_its_thread,
        test_slack_channel_not_found_fails_at_once_and_falls_back_to_email,
        test_a_row_left_sending_by_a_crash_is_sent_once_more_and_no_other_twice,
        test_a_row_that_cannot_be_prepared_is_retried_and_does_not_stop_the_others,
        test_while_a_message_is_sent_it_is_the_only_sending_row_and_earlier_ones_are_recorded,
    ],
    ids=["channels", "threads", "fallback", "crash", "prepare-error", "one-sending"],
)
def test_on_each_backend(backend_env: Env, scenario: Callable[[Env], None]) -> None:
    """The dispatcher claims, re-checks and records with plain SQL per backend: the scenarios
    above on SQLite and PostgreSQL."""
    scenario(backend_env)


@pytest.mark.parametrize(
    ("priority", "hotline", "event", "by", "reason"),
    [
        ("medium", False, "resolved", None, "incident resolved"),
        ("high", True, "acknowledged", "ivan", "acknowledged by ivan at"),
    ],
)
def test_dropped_on_each_backend(
    backend_env: Env, priority: str, hotline: bool, event: str, by: str | None, reason: str
) -> None:
    test_a_notification_that_no_longer_applies_is_dropped(
        backend_env, priority, hotline, event, by, reason
    )
