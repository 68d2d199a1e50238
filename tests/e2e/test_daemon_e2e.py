"""End to end: the real ``slawatch run`` process with Slack, Twilio and SMTP played by local fakes.

One daemon serves the module, in this order (each test leaves it running for the next):

1. readiness: ``READY=1`` and ``STATUS=`` on a real ``NOTIFY_SOCKET``, ``WATCHDOG=1`` pings,
   ``/healthz``, and the start-up time on an empty database;
2. a hotline page reaches Twilio within 5 s of the API call, repeats, and stops once
   acknowledged through the API;
3. an incident created through the API escalates at 50/75/90 % and at the breach to the
   expected people, channels and times (premium account, 16 s response target, 24x7); one
   entered long after those thresholds gets a single catch-up level;
4. SIGHUP with a broken config keeps it running (and sending); a fixed config reloads;
5. SIGKILL while a Slack send is in flight, then a restart: nothing lost, and only the
   in-flight message sent twice;
6. SIGTERM: the send in flight finishes, ``STOPPING=1``, exit 0; restarted, then SIGTERM with a
   send hanging still exits 0 within 10 s, leaving that message for the next start.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from e2e_harness import Daemon, Datagram, NotifySocket, free_port, poll

from daemon_env import API_TOKEN, ENVIRON, IVAN_PHONE, write_config
from fakes.slack import FakeSlack
from fakes.smtp import FakeSmtp
from fakes.twilio import FakeTwilio

pytestmark = pytest.mark.e2e

#: A premium ("Custom SLA") account on 24x7 whose medium response target is 16 seconds: the
#: default rules fire at 8 s (50 %), 12 s (75 %), 14.4 s (90 %) and 16 s (breach).
ACCOUNT = {
    "name": "ACME Corp",
    "plan": "premium",
    "calendar": "24x7",
    "csm": "maria",
    "sla": {
        "high": {"workaround": "20m", "resolution": "-"},
        "medium": {"response": "16s", "workaround": "-", "resolution": "-"},
    },
}
#: How late a message may arrive after its threshold on a loaded 2-core machine (a 1 s scan,
#: the dispatcher woken at once).
LATE_S = 4.5
PAGE_REPEAT_S = 3.0


@dataclass
class World:
    tmp: Path
    config: Path
    config_text: str
    slack: FakeSlack
    twilio: FakeTwilio
    smtp: FakeSmtp
    notify: NotifySocket
    daemon: Daemon
    #: the first READY=1 datagram
    ready: Datagram | None = None
    #: (monotonic, wall) when the escalation incident ESC-1 was opened
    esc_opened: tuple[float, datetime] = (0.0, datetime.min)

    def api(self, method: str, path: str, body: object = None) -> tuple[int, object]:
        return self.daemon.request(method, path, body, token=API_TOKEN)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("e2e")
    with FakeSlack() as slack, FakeTwilio() as twilio, FakeSmtp() as smtp:
        slack.users["lead@example.com"] = "U0LEAD"
        port = free_port()
        config = tmp / "slawatch.toml"
        write_config(
            config,
            slack_url=slack.base_url,
            twilio_url=twilio.url,
            smtp_port=smtp.port,
            api_enabled=True,
            api_listen=f"127.0.0.1:{port}",
            scan_interval="1s",
            dispatch_interval="1s",
            channel_rate="{ slack = 600, email = 600, sms = 600 }",
            recipient_rate="{ slack = 600, email = 600, sms = 600 }",
            page_repeat=f"{PAGE_REPEAT_S:g}s",
        )
        notify = NotifySocket()
        environ = {
            **ENVIRON,
            "NOTIFY_SOCKET": notify.path,
            "WATCHDOG_USEC": "2000000",  # pings every second while jobs progress
        }
        daemon = Daemon(tmp, config, environ=environ, api_port=port)
        world = World(tmp, config, config.read_text(), slack, twilio, smtp, notify, daemon)  # type: ignore[arg-type]
        daemon.start()
        try:
            world.ready = notify.wait_for("READY", "1", timeout_s=60, guard=daemon.check_alive)
            daemon.wait_healthy()
            # The escalation incident of test 3 starts now: its 16 s run while tests 1-2 go.
            status, _ = world.api("PUT", "/api/v1/accounts/acme", ACCOUNT)
            assert status in (200, 201)
            opened = (time.monotonic(), datetime.now(UTC))
            status, body = world.api(
                "POST",
                "/api/v1/incidents",
                {
                    "id": "ESC-1",
                    "account": "acme",
                    "priority": "medium",
                    "title": "Reports time out",
                    "opened_at": opened[1].isoformat(),
                },
            )
            assert status == 201, body
            world.esc_opened = opened
            yield world
        finally:
            daemon.stop()
            notify.close()


def slack_texts(world: World, needle: str) -> list[tuple[float, str, str | None, str]]:
    """(received at, channel, thread_ts, ts) of posted Slack messages mentioning ``needle``."""
    found = []
    for rec in world.slack.calls("chat.postMessage"):
        if needle not in str(rec.params.get("text") or ""):
            continue
        # The fake keeps the request's own params on the message it posted.
        posted = next((m for m in world.slack.messages if m.params is rec.params), None)
        if posted is not None:
            found.append((rec.at, posted.channel, posted.thread_ts, posted.ts))
    return found


# ------------------------------------------------------------------------------ 1. ready
def test_ready_on_an_empty_database_with_status_and_watchdog(world: World) -> None:
    ready = world.ready
    assert ready is not None
    ready_s = ready.at - world.daemon.started_at
    assert "STATUS" in ready.fields and "open incidents" in ready.fields["STATUS"]
    started = world.daemon.wait_event("started")
    startup_ms = started.data["startup_ms"]
    # SQLite: the WAL is checkpointed by a job of its own, never inside a scan's commit
    assert started.data["jobs"] == [
        "sla-scan",
        "outbox-dispatch",
        "daily-reminders",
        "housekeeping",
        "wal-checkpoint",
    ]
    load = os.getloadavg()[0]
    print(
        f"\nstart-up: READY=1 {ready_s:.2f}s after the process started (interpreter, imports "
        f"and start); the daemon's own start {startup_ms} ms; load average {load:.1f}"
    )
    assert started.data["open_incidents"] == 0 and started.data["accounts"] == 0
    # The goal is 2 s; on the shared 2-core test machine the interpreter's imports
    # alone take longer, so this only guards against a hang; the figures are printed.
    assert ready_s < 30
    # Watchdog pings come while the scheduler progresses.
    poll(
        "two WATCHDOG=1 pings",
        lambda: len([m for m in world.notify.since() if m.fields.get("WATCHDOG") == "1"]) >= 2,
        timeout_s=10,
    )
    # STATUS= lines follow the scan.
    poll(
        "a STATUS= update after READY",
        lambda: any("STATUS" in m.fields and "READY" not in m.fields for m in world.notify.since()),
        timeout_s=10,
    )


# ------------------------------------------------------------------------ 2. hotline page
def test_hotline_page_within_5s_and_acknowledging_stops_pages(world: World) -> None:
    def pages() -> list:
        return [
            m
            for m in world.twilio.requests
            if m.path.endswith("/Messages.json") and "HOT-1" in str(m.params.get("Body", ""))
        ]

    before = time.monotonic()
    status, body = world.api(
        "POST",
        "/api/v1/incidents",
        {
            "id": "HOT-1",
            "account": "acme",
            "priority": "high",
            "title": "Board is down for every user",
            "via_hotline": True,
        },
    )
    assert status == 201, body
    first = poll("the first page at FakeTwilio", lambda: pages()[:1], timeout_s=10)[0]
    latency = first.at - before
    print(f"\nhotline page reached Twilio {latency:.2f}s after the API call")
    assert latency < 5.0
    assert first.params["To"] == IVAN_PHONE
    # It repeats every page_repeat until acknowledged.
    poll("the repeated page", lambda: len(pages()) >= 2, timeout_s=PAGE_REPEAT_S + LATE_S)
    status, body = world.api(
        "POST", "/api/v1/incidents/HOT-1/events", {"type": "acknowledged", "by": "ivan"}
    )
    assert status == 201, body
    assert body["acknowledged_by"] == "ivan"  # type: ignore[index]
    count = len(pages())
    # A negative: wait two repeat periods (polling cannot prove that nothing comes).
    time.sleep(2 * PAGE_REPEAT_S + 0.5)
    assert len(pages()) == count
    _, view = world.api("GET", "/api/v1/incidents/HOT-1")
    notes = [n for n in view["notifications"] if n["kind"] == "page"]  # type: ignore[index]
    assert all(n["status"] in ("sent", "dropped") for n in notes)
    assert len([n for n in notes if n["status"] == "sent"]) == count


# ------------------------------------------------------------------- 3. escalation times
def test_escalations_reach_the_expected_people_at_the_expected_times(world: World) -> None:
    opened_mono, _ = world.esc_opened

    def mails() -> list[tuple[list[str], str]]:
        return [
            (m.rcpt_tos, str(m.message["Subject"]))
            for m in world.smtp.received
            if "ESC-1" in str(m.message["Subject"])
        ]

    seen_mail: dict[str, float] = {}

    def everything() -> bool:
        for rcpt, _subject in mails():
            seen_mail.setdefault(rcpt[0], time.monotonic())
        return len(slack_texts(world, "ESC-1")) >= 5 and len(seen_mail) >= 2

    poll("every ESC-1 escalation", everything, timeout_s=16 + LATE_S + 15, interval_s=0.05)
    posts = slack_texts(world, "ESC-1")
    by_channel: dict[str, list[tuple[float, str | None, str]]] = {}
    for at, channel, thread_ts, ts in sorted(posts):
        by_channel.setdefault(channel, []).append((at - opened_mono, thread_ts, ts))

    def on_time(offset: float, expected: float, what: str) -> None:
        print(f"\n{what}: +{offset:.1f}s (threshold +{expected}s)", end="")
        assert expected - 0.5 <= offset <= expected + LATE_S, (
            f"{what} at +{offset:.1f}s, expected +{expected}s"
        )

    team = by_channel["C0SUPPORT"]
    assert len(team) == 2
    on_time(team[0][0], 8, "50% to the team channel")
    on_time(team[1][0], 16, "breach to the team channel")
    assert team[1][1] == team[0][2]  # the breach is posted in the thread of the first message
    maria = by_channel["D0MARIA"]
    assert len(maria) == 2
    on_time(maria[0][0], 12, "75% to the CSM")
    on_time(maria[1][0], 16, "breach to the CSM")
    (lead,) = by_channel["D0LEAD"]
    on_time(lead[0], 14.4, "90% to the support lead on Slack")
    assert set(by_channel) == {"C0SUPPORT", "D0MARIA", "D0LEAD"}
    on_time(seen_mail["lead@example.com"] - opened_mono, 14.4, "90% email to the lead")
    on_time(seen_mail["manager@example.com"] - opened_mono, 16, "breach email to the manager")
    assert sorted(r[0] for r, _ in mails()) == ["lead@example.com", "manager@example.com"]

    _, view = world.api("GET", "/api/v1/incidents/ESC-1")
    sent = sorted(
        (n["step"], n["recipient"], n["channel"], n["status"])
        for n in view["notifications"]  # type: ignore[index]
    )
    assert sent == [
        ("breach-csm", "maria", "slack", "sent"),
        ("breach-manager", "manager", "email", "sent"),
        ("breach-team", "#support", "slack", "sent"),
        ("csm-75", "maria", "slack", "sent"),
        ("lead-90", "lead", "email", "sent"),
        ("lead-90", "lead", "slack", "sent"),
        ("team-50", "#support", "slack", "sent"),
    ]


def test_an_incident_long_past_its_thresholds_gets_one_catch_up_level(world: World) -> None:
    """What a restart after downtime does, without the downtime: an incident entered late,
    ten minutes after opening, has passed 50/75/90 % and the breach of its 16 s target."""
    opened = datetime.now(UTC) - timedelta(minutes=10)
    status, _ = world.api(
        "POST",
        "/api/v1/incidents",
        {
            "id": "LATE-1",
            "account": "acme",
            "priority": "medium",
            "title": "Reported late",
            "opened_at": opened.isoformat(),
        },
    )
    assert status == 201

    def notes() -> list[dict]:
        _, view = world.api("GET", "/api/v1/incidents/LATE-1")
        return view["notifications"]  # type: ignore[index,no-any-return]

    poll(
        "the catch-up messages sent",
        lambda: len([n for n in notes() if n["status"] == "sent"]) == 3,
        timeout_s=15,
        interval_s=0.1,
    )
    sent = sorted((n["step"], n["recipient"], n["stage"]) for n in notes() if n["status"] == "sent")
    assert sent == [
        ("breach-csm", "maria", "catchup"),
        ("breach-manager", "manager", "catchup"),
        ("breach-team", "#support", "catchup"),
    ]
    dropped = [n for n in notes() if n["status"] == "dropped"]
    assert sorted(n["step"] for n in dropped) == ["csm-75", "lead-90", "lead-90", "team-50"]
    assert all(n["drop_reason"].startswith("superseded by catch-up") for n in dropped)
    posts = slack_texts(world, "LATE-1")
    assert sorted(channel for _, channel, _, _ in posts) == ["C0SUPPORT", "D0MARIA"]
    mails = [m.rcpt_tos for m in world.smtp.received if "LATE-1" in str(m.message["Subject"])]
    assert mails == [["manager@example.com"]]


# ---------------------------------------------------------------------------- 4. SIGHUP
def test_sighup_with_a_broken_config_keeps_running_then_a_fixed_one_reloads(
    world: World,
) -> None:
    daemon = world.daemon
    mark, sd_mark = daemon.log_mark(), world.notify.mark()
    broken = world.config_text.replace('scan_interval = "1s"', 'scan_interval = "soon"')
    assert broken != world.config_text
    world.config.write_text(broken, encoding="utf-8")
    daemon.signal(signal.SIGHUP)
    refused = daemon.wait_event("reload_refused", after=mark, timeout_s=20)
    assert any("daemon.scan_interval" in p for p in refused.data["problems"]), refused.data
    reloading = world.notify.wait_for("RELOADING", "1", after=sd_mark, timeout_s=10)
    assert int(reloading.fields["MONOTONIC_USEC"]) > 0
    assert daemon.alive() and daemon.healthy()
    # Still sending on the old configuration: a new hotline page goes out.
    before = len(world.twilio.messages)
    status, _ = world.api(
        "POST",
        "/api/v1/incidents",
        {
            "id": "HOT-2",
            "account": "acme",
            "priority": "high",
            "title": "Down",
            "via_hotline": True,
        },
    )
    assert status == 201
    poll("a page after the refused reload", lambda: len(world.twilio.messages) > before, 10)
    world.api("POST", "/api/v1/incidents/HOT-2/events", {"type": "resolved"})

    mark, sd_mark = daemon.log_mark(), world.notify.mark()
    world.config.write_text(world.config_text, encoding="utf-8")
    daemon.signal(signal.SIGHUP)
    daemon.wait_event("reloaded", after=mark, timeout_s=20)
    reloading = world.notify.wait_for("RELOADING", "1", after=sd_mark, timeout_s=10)
    usec = int(reloading.fields["MONOTONIC_USEC"])
    assert abs(usec / 1e6 - time.monotonic()) < 60  # CLOCK_MONOTONIC, as systemd expects
    world.notify.wait_for("READY", "1", after=sd_mark, timeout_s=10)
    assert daemon.healthy()


# ------------------------------------------------------------------- 5. SIGKILL mid-send
def test_sigkill_during_a_send_loses_nothing_and_duplicates_only_the_in_flight_message(
    world: World,
) -> None:
    daemon = world.daemon
    keys = [f"KILL-{n}" for n in range(1, 4)]
    requests_before = len(world.slack.calls("chat.postMessage"))
    # The next chat.postMessage hangs longer than the client's timeout: it is in flight.
    world.slack.slow(delay_s=30)
    opened = datetime.now(UTC).isoformat()
    for key in keys:
        status, _ = world.api(
            "POST",
            "/api/v1/incidents",
            {
                "id": key,
                "account": "acme",
                "priority": "medium",
                "title": "Slow",
                "opened_at": opened,
            },
        )
        assert status == 201
    # All three 50 % warnings to #support are due 8 s later; kill as soon as one is in flight.
    poll(
        "a Slack send in flight",
        lambda: len(world.slack.calls("chat.postMessage")) > requests_before,
        timeout_s=8 + LATE_S + 5,
        interval_s=0.01,
    )
    daemon.kill()
    in_flight = world.slack.calls("chat.postMessage")[requests_before]
    in_flight_text = str(in_flight.params.get("text"))
    assert any(key in in_flight_text for key in keys)
    delivered_before_restart = [
        m for m in world.slack.messages if any(k in (m.text or "") for k in keys)
    ]

    sd_mark, mark = world.notify.mark(), daemon.log_mark()
    daemon.start()
    world.notify.wait_for("READY", "1", after=sd_mark, timeout_s=60, guard=daemon.check_alive)
    requeued = daemon.wait_event("requeued_in_flight", after=mark, timeout_s=5)
    assert requeued.data["count"] == 1

    def rows() -> list[dict]:
        found = []
        for key in keys:
            _, view = world.api("GET", f"/api/v1/incidents/{key}")
            found.extend(view["notifications"])  # type: ignore[index]
        return found

    # Each incident escalates seven times (as ESC-1) by its breach at 16 s; wait for all.
    poll(
        "every KILL notification sent after the restart",
        lambda: (lambda r: len(r) == 7 * len(keys) and all(n["status"] == "sent" for n in r))(
            rows()
        ),
        timeout_s=16 + LATE_S + 20,
        interval_s=0.2,
    )
    notes = rows()
    assert len({n["dedupe_key"] for n in notes}) == len(notes)
    slack_rows = [n for n in notes if n["channel"] == "slack"]
    # Nothing lost: every row was delivered; nothing duplicated but the in-flight one: each
    # answered Slack request is exactly one row's message...
    requests = [
        r
        for r in world.slack.calls("chat.postMessage")[requests_before:]
        if any(k in str(r.params.get("text")) for k in keys)
    ]
    posted = [m for m in world.slack.messages if any(m.params is r.params for r in requests)]
    assert sorted(m.ts for m in posted) == sorted(n["provider_message_id"] for n in slack_rows)
    # ...and the only request never answered is the one in flight when the process died.
    unanswered = [r for r in requests if not any(m.params is r.params for m in posted)]
    assert unanswered == [in_flight]
    assert len(requests) == len(slack_rows) + 1
    (resent,) = [n for n in notes if n["attempts"] == 2]
    assert all(n["attempts"] == 1 for n in notes if n is not resent)
    assert resent["channel"] == "slack" and resent["step"] == "team-50"
    assert delivered_before_restart == []  # the first send was the one in flight


# ---------------------------------------------------------------------------- 6. SIGTERM
def page_states(world: World, key: str) -> list[tuple[str, str | None]]:
    """(status, provider id) of the incident's pages, read from the SQLite file directly."""
    with sqlite3.connect(world.tmp / "var" / "slawatch.db") as conn:
        return conn.execute(
            "SELECT n.status, n.provider_message_id FROM notifications n"
            " JOIN incidents i ON i.id = n.incident_id"
            " WHERE i.external_id = ? AND n.kind = 'page' ORDER BY n.id",
            (key,),
        ).fetchall()


def test_sigterm_finishes_the_send_in_flight_then_exits_0(world: World) -> None:
    daemon = world.daemon
    assert daemon.alive()
    world.twilio.slow(delay_s=1.0)  # Twilio answers the next request after a second
    before = len(world.twilio.requests)
    status, _ = world.api(
        "POST",
        "/api/v1/incidents",
        {
            "id": "HOT-4",
            "account": "acme",
            "priority": "high",
            "title": "Down",
            "via_hotline": True,
        },
    )
    assert status == 201
    poll("the page in flight", lambda: len(world.twilio.requests) > before, 10, 0.005)
    sd_mark, mark = world.notify.mark(), daemon.log_mark()
    started = time.monotonic()
    daemon.signal(signal.SIGTERM)
    assert daemon.proc is not None
    code = daemon.proc.wait(30)
    took = time.monotonic() - started
    print(f"\nSIGTERM to exit with a 1 s send in flight: {took:.2f}s")
    assert code == 0 and took < 10
    assert world.notify.wait_for("STOPPING", "1", after=sd_mark, timeout_s=1)
    assert not daemon.events("shutdown_timeout", after=mark)
    # The send finished and was recorded before the exit.
    assert page_states(world, "HOT-4") == [("sent", "SMslow")]

    sd_mark = world.notify.mark()
    daemon.start()
    world.notify.wait_for("READY", "1", after=sd_mark, timeout_s=60, guard=daemon.check_alive)
    daemon.wait_healthy()
    status, _ = world.api("POST", "/api/v1/incidents/HOT-4/events", {"type": "resolved"})
    assert status == 201


def test_sigterm_stops_within_10s_even_with_a_send_hanging(world: World) -> None:
    daemon = world.daemon
    assert daemon.alive()
    # A page whose send hangs (the SMS client would wait 20 s for Twilio's answer).
    world.twilio.slow(delay_s=30)
    before = len(world.twilio.requests)
    status, _ = world.api(
        "POST",
        "/api/v1/incidents",
        {
            "id": "HOT-3",
            "account": "acme",
            "priority": "high",
            "title": "Down",
            "via_hotline": True,
        },
    )
    assert status == 201
    poll("the page in flight", lambda: len(world.twilio.requests) > before, timeout_s=10)
    sd_mark, mark = world.notify.mark(), daemon.log_mark()
    started = time.monotonic()
    daemon.signal(signal.SIGTERM)
    assert daemon.proc is not None
    code = daemon.proc.wait(30)
    took = time.monotonic() - started
    print(f"\nSIGTERM to exit with a send hanging: {took:.2f}s")
    assert code == 0
    assert took < 10
    assert world.notify.wait_for("STOPPING", "1", after=sd_mark, timeout_s=1)
    assert daemon.events("shutdown_timeout", after=mark)
    assert daemon.events("stopped", after=mark)
    # The page is left in flight: the next start sends it again (at-least-once).
    assert page_states(world, "HOT-3") == [("sending", None)]
