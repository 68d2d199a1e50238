"""The meetings / workshops / entitlements API over real HTTP (uvicorn on 127.0.0.1, port 0)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import func, select

from slawatch.api.entitlements_routes import entitlements_router
from slawatch.api.errors import install_error_handlers
from slawatch.config.loader import build_settings
from slawatch.store.db import Database
from slawatch.store.models import Account, EntitlementUse, Meeting, Notification, PlanChange

NOW = datetime(2026, 3, 12, 10, tzinfo=UTC)
SETTINGS = build_settings(
    {
        "people": {"maria": {"name": "Maria Petrova", "slack": "U1"}, "lead": {"email": "l@x.io"}},
        "roles": {"support_lead": "lead"},
    },
    None,
)


def serve(app: FastAPI) -> Iterator[str]:
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def api(db: Database) -> Iterator[tuple[httpx.Client, Database]]:
    created = datetime(2025, 1, 1, tzinfo=UTC)
    with db.session() as s:
        for account_id, plan, start in [
            ("acme", "enterprise", date(2025, 8, 31)),
            ("globex", "premium", date(2025, 3, 10)),
        ]:
            s.add(
                Account(
                    id=account_id,
                    name=account_id.title(),
                    plan=plan,
                    csm="maria",
                    contract_start=start,
                    emails=[],
                    phones=[],
                    sla_overrides={},
                    active=True,
                    created_at=created,
                    updated_at=created,
                )
            )
            s.flush()
            s.add(PlanChange(account_id=account_id, plan=plan, effective_at=created))
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(entitlements_router(db, lambda: SETTINGS, clock=lambda: NOW))
    for base in serve(app):
        with httpx.Client(base_url=base, timeout=10) as client:
            yield client, db


def count(db: Database, model: Any) -> int:
    with db.read_session() as s:
        return int(s.execute(select(func.count()).select_from(model)).scalar_one())


def test_record_meeting_and_list(api: tuple[httpx.Client, Database]) -> None:
    client, db = api
    listed = client.get("/api/v1/meetings", params={"overdue": "true"})
    assert listed.status_code == 200
    assert [(r["account"], r["due"], r["state"]) for r in listed.json()] == [
        ("globex", "2025-12-10", "overdue"),
        ("acme", "2026-02-28", "overdue"),
    ]
    made = client.post("/api/v1/accounts/acme/meetings", json={"date": "2026-03-11", "notes": "Q1"})
    assert made.status_code == 201, made.text
    body = made.json()
    assert (body["account"], body["held_on"], body["satisfies"], body["next_due"]) == (
        "acme",
        "2026-03-11",
        "2026-05-31",  # the period it falls in; the missed February one is no longer chased
        "2026-08-31",
    )
    again = client.post("/api/v1/accounts/acme/meetings", json={"date": "2026-03-11"})
    assert again.status_code == 200 and again.json()["id"] == body["id"]  # idempotent retry
    rows = client.get("/api/v1/meetings", params={"due_within": "90d"}).json()
    assert ("acme", "2026-05-31", "held") in [(r["account"], r["due"], r["state"]) for r in rows]
    assert all(r["state"] != "overdue" for r in rows if r["account"] == "acme")
    mine = client.get("/api/v1/meetings", params={"csm": "Maria Petrova"}).json()
    assert {r["account"] for r in mine} == {"acme", "globex"}
    assert client.get("/api/v1/meetings", params={"csm": "nobody"}).json() == []
    assert count(db, Meeting) == 1


def test_bad_input_is_4xx_naming_the_field_and_stores_nothing(
    api: tuple[httpx.Client, Database],
) -> None:
    client, db = api
    missing = client.post("/api/v1/accounts/nope/meetings", json={"date": "2026-03-01"})
    assert missing.status_code == 404 and "nope" in missing.json()["error"]
    future = client.post("/api/v1/accounts/acme/meetings", json={"date": "2027-01-01"})
    assert future.status_code == 422 and future.json()["field"] == "date"
    bad = client.post("/api/v1/accounts/acme/meetings", json={"date": "yesterday"})
    assert bad.status_code == 422 and "date" in bad.text
    number = client.post("/api/v1/accounts/acme/workshops", json={"date": 0})
    assert number.status_code == 422 and number.json()["field"] == "date"
    flag = client.post("/api/v1/accounts/acme/entitlements/report/uses", json={"force": "yes"})
    assert flag.status_code == 422 and flag.json()["field"] == "force"
    extra = client.post("/api/v1/accounts/acme/meetings", json={"date": "2026-03-01", "x": 1})
    assert extra.status_code == 422
    nul = client.post(
        "/api/v1/accounts/acme/meetings", json={"date": "2026-03-01", "notes": "\x00"}
    )
    assert nul.status_code == 422 and nul.json()["field"] == "notes"
    lone = client.post(
        "/api/v1/accounts/acme/entitlements/report/uses",
        content=b'{"note": "\\ud800"}',
        headers={"Content-Type": "application/json"},
    )
    assert lone.status_code == 422 and lone.json()["field"] == "note"
    assert client.get("/api/v1/meetings", params={"due_within": "soon"}).status_code == 422
    assert client.get("/api/v1/accounts/bad%00id/entitlements").status_code == 422
    assert client.post("/api/v1/accounts/acme/entitlements/coffee/uses", json={}).status_code == 422
    assert count(db, Meeting) == 0 and count(db, EntitlementUse) == 0


def test_entitlement_uses_refused_forced_and_shown(api: tuple[httpx.Client, Database]) -> None:
    client, db = api
    url = "/api/v1/accounts/acme/entitlements/restore/uses"
    first = client.post(url, json={"note": "board wiped"})
    assert first.status_code == 201, first.text
    assert first.json()["balance"] == {"used": 1, "included": 2, "remaining": 1, "overage": 0}
    second = client.post(url)  # no body at all is fine
    assert second.status_code == 201 and second.json()["notified"] == 1
    refused = client.post(url, json={})
    assert refused.status_code == 409
    assert refused.json()["field"] == "restore" and "--force" in refused.json()["error"]
    forced = client.post(url, json={"force": True})
    assert forced.status_code == 201 and forced.json()["overage"] is True
    shown = client.get("/api/v1/accounts/acme/entitlements").json()
    assert shown["restore"] == {"used": 3, "included": 2, "remaining": 0, "overage": 1}
    assert (shown["contract_year_start"], shown["contract_year_end"], shown["resets_on"]) == (
        "2025-08-31",
        "2026-08-30",
        "2026-08-31",
    )
    premium = client.get("/api/v1/accounts/globex/entitlements").json()
    assert premium["sandbox"]["included"] == "multiple" and premium["ticket"]["included"] == 30
    with db.read_session() as s:
        stages = list(s.execute(select(Notification.stage)).scalars())
    assert stages == ["entitlement_exhausted"]


def test_record_workshop(api: tuple[httpx.Client, Database]) -> None:
    client, _ = api
    made = client.post("/api/v1/accounts/acme/workshops", json={"date": "2025-10-01"})
    assert made.status_code == 201, made.text
    body = made.json()
    assert (body["delivered"], body["included"], body["behind"]) == (1, 6, True)
    assert body["contract_year_start"] == "2025-08-31"


def test_openapi_lists_the_paths(api: tuple[httpx.Client, Database]) -> None:
    client, _ = api
    paths = client.get("/openapi.json").json()["paths"]
    assert {
        "/api/v1/accounts/{id}/meetings",
        "/api/v1/meetings",
        "/api/v1/accounts/{id}/workshops",
        "/api/v1/accounts/{id}/entitlements",
        "/api/v1/accounts/{id}/entitlements/{kind}/uses",
    } <= set(paths)


def test_served_by_the_real_app_behind_the_token(http: Any) -> None:
    """``create_app`` includes the router; every path needs the bearer token."""
    assert http.client.get("/api/v1/meetings").status_code == 401
    assert (
        http.client.post("/api/v1/accounts/configured/entitlements/report/uses").status_code == 401
    )
    put = http.api(
        "PUT",
        "/api/v1/accounts/initech",
        json={"name": "Initech", "plan": "business", "contract_start": "2024-02-29"},
    )
    assert put.status_code in (200, 201), put.text
    used = http.api("POST", "/api/v1/accounts/initech/entitlements/report/uses", json={})
    assert used.status_code == 201, used.text
    assert used.json()["balance"] == {"used": 1, "included": 1, "remaining": 0, "overage": 0}
    refused = http.api("POST", "/api/v1/accounts/initech/entitlements/report/uses", json={})
    assert refused.status_code == 409 and refused.json()["field"] == "report"
    shown = http.api("GET", "/api/v1/accounts/initech/entitlements")
    assert shown.status_code == 200 and shown.json()["report"]["used"] == 1
    start = date.fromisoformat(shown.json()["contract_year_start"])
    assert (start.month, start.day) in {(2, 28), (2, 29)}  # leap-day contract anniversaries
    meetings = http.api("GET", "/api/v1/meetings")
    assert meetings.status_code == 200
    assert {r["account"] for r in meetings.json()} >= {"initech"}
    assert http.api("GET", "/api/v1/accounts/ghost/entitlements").status_code == 404
