"""``slawatch incident ...`` on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from .conftest import Cli


def _iso(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).isoformat()


def test_incident_lifecycle(run: Cli) -> None:
    run("account", "add", "acme", "--name", "Acme", "--plan", "enterprise")
    opened = _iso(-timedelta(days=2))
    view = run.json(
        "incident",
        "open",
        "T-1",
        "--account",
        "acme",
        "--priority",
        "medium",
        "--title",
        "Exports fail",
        "--opened",
        opened,
        "--assignee",
        "dan",
    )
    assert (view["id"], view["status"], view["plan"]) == ("T-1", "open", "enterprise")
    assert [c["target"] for c in view["clocks"]] == ["response", "workaround", "resolution"]
    # the same again is harmless; other data is a conflict
    assert (
        "already open"
        in run(
            "incident",
            "open",
            "T-1",
            "--account",
            "acme",
            "--priority",
            "medium",
            "--title",
            "Exports fail",
            "--opened",
            opened,
            "--assignee",
            "dan",
        ).stdout
    )
    result = run(
        "incident",
        "open",
        "T-1",
        "--account",
        "acme",
        "--priority",
        "high",
        "--title",
        "x",
        code=2,
    )
    assert "priority" in result.stderr
    at = _iso(-timedelta(days=1))
    assert "responded" in run("incident", "respond", "T-1", "--at", at, "--by", "dan").stdout
    assert "already recorded" in run("incident", "respond", "T-1", "--at", at, "--by", "dan").stdout
    run("incident", "pause", "T-1")
    assert "already paused" in run("incident", "pause", "T-1", code=2).stderr
    run("incident", "resume", "T-1")
    run("incident", "priority", "T-1", "high", "--by", "lead")
    run("incident", "note", "T-1", "customer called back")
    run("incident", "ack", "T-1", "--by", "erin")
    run("incident", "workaround", "T-1")
    view = run.json("incident", "show", "T-1")
    assert [e["type"] for e in view["events"]] == [
        "responded",
        "paused",
        "resumed",
        "priority_changed",
        "note",
        "acknowledged",
        "workaround",
    ]
    assert view["priority"] == "high"
    assert view["acknowledged_by"] == "erin"
    # opened two days ago: the escalation policy has already queued notifications for it
    assert view["notifications"]
    assert all(n["incident_id"] is not None and n["status"] for n in view["notifications"])
    text = run("incident", "show", "T-1").stdout
    assert "history:" in text and "acknowledged" in text and "clocks:" in text
    run("incident", "resolve", "T-1")
    assert (
        "already resolved"
        in run("incident", "resolve", "T-1", "--at", _iso(timedelta(0)), code=2).stderr
    )
    assert (
        "cannot record a response"
        in run("incident", "respond", "T-1", "--at", _iso(timedelta(0)), code=2).stderr
    )
    run("incident", "reopen", "T-1")
    assert run.json("incident", "show", "T-1")["status"] == "open"


def test_incident_bad_input(run: Cli) -> None:
    run("account", "add", "acme", "--name", "Acme", "--plan", "business")
    assert (
        "--opened"
        in run(
            "incident",
            "open",
            "T-1",
            "--account",
            "acme",
            "--priority",
            "high",
            "--title",
            "x",
            "--opened",
            "2026-11-20T10:00",
            code=2,
        ).stderr
    )
    assert (
        "priority: unknown priority"
        in run(
            "incident",
            "open",
            "T-1",
            "--account",
            "acme",
            "--priority",
            "urgent",
            "--title",
            "x",
            code=2,
        ).stderr
    )
    assert "not found" in run("incident", "respond", "T-404", code=2).stderr
    assert "--at" in run("incident", "respond", "T-404", "--at", "yesterday", code=2).stderr
    assert run.json("incident", "list", "--state", "all") == []


def test_list_is_the_queue_with_remaining_and_overdue_time(run: Cli) -> None:
    run("account", "add", "small", "--name", "Small", "--plan", "standard")
    run("account", "add", "big", "--name", "Big", "--plan", "enterprise")
    run("account", "add", "vip", "--name", "VIP", "--plan", "premium", "--calendar", "24x7")
    run("incident", "open", "S-1", "--account", "small", "--priority", "high", "--title", "s")
    run("incident", "open", "B-low", "--account", "big", "--priority", "low", "--title", "b")
    run("incident", "open", "B-high", "--account", "big", "--priority", "medium", "--title", "b")
    run(
        "incident",
        "open",
        "V-1",
        "--account",
        "vip",
        "--priority",
        "low",
        "--title",
        "v",
        "--opened",
        _iso(-timedelta(days=5)),
    )
    listed = run.json("incident", "list")
    assert [v["id"] for v in listed] == ["V-1", "B-high", "B-low", "S-1"]
    overdue = listed[0]["clocks"][0]
    assert overdue["state"] == "breached" and overdue["overdue"] is True
    assert overdue["remaining"].startswith("-")
    text = run("incident", "list").stdout.splitlines()
    assert text[0].split()[:4] == ["ID", "ACCOUNT", "PLAN", "PRIORITY"]
    assert text[1].startswith("V-1") and "response: OVERDUE 2d" in text[1]
    assert "left" in text[2]
    page = run.json("incident", "list", "--limit", "2", "--offset", "1")
    assert [v["id"] for v in page] == ["B-high", "B-low"]
    assert "--limit" in run("incident", "list", "--limit", "0", code=2).stderr
    assert "limit" in run("incident", "list", "--limit", "10001", code=2).stderr
    assert "--offset" in run("incident", "list", "--offset", "-1", code=2).stderr
    run("incident", "resolve", "V-1")
    assert [v["id"] for v in run.json("incident", "list", "--state", "resolved")] == ["V-1"]
