"""The HTTP API through real HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from slawatch.api.app import create_app
from slawatch.config.loader import Settings, build_settings
from slawatch.store.db import Database

from .conftest import Served, serve


def _ago(**kw: float) -> str:
    return (datetime.now(UTC) - timedelta(**kw)).isoformat()


def _account(http: Served, account_id: str = "acme", plan: str = "enterprise") -> None:
    r = http.api("PUT", f"/api/v1/accounts/{account_id}", json={"name": "Acme", "plan": plan})
    assert r.status_code in (200, 201), r.text


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": "Basic abc"},
        {"Authorization": "Bearer"},
    ],
)
def test_api_needs_a_valid_bearer_token(http: Served, headers: dict[str, str]) -> None:
    for method, path in [("GET", "/api/v1/accounts"), ("POST", "/api/v1/incidents")]:
        r = http.client.request(method, path, headers=headers, json={})
        assert r.status_code == 401
        assert r.headers["www-authenticate"] == "Bearer"
        assert r.json()["error"]
    assert http.api("GET", "/api/v1/accounts").status_code == 200


def test_no_token_configured_refuses_everything(db: Database) -> None:
    settings = build_settings({}, None)  # the embedded defaults: [api] tokens = []
    gen = serve(create_app(db, settings))
    url = next(gen)
    try:
        for headers in ({}, {"Authorization": "Bearer anything"}):
            r = httpx.get(f"{url}/api/v1/accounts", headers=headers)
            assert r.status_code == 401
    finally:
        gen.close()


def test_accounts(http: Served) -> None:
    r = http.api(
        "PUT",
        "/api/v1/accounts/acme",
        json={"name": "Acme", "plan": "enterprise", "emails": ["a@acme.example"]},
    )
    assert r.status_code == 201
    assert r.json()["emails"] == ["a@acme.example"]
    r = http.api(
        "PUT",
        "/api/v1/accounts/acme",
        json={"name": "Acme Corp", "plan": "premium", "sla": {"high": {"workaround": "4h"}}},
    )
    assert r.status_code == 200
    assert r.json()["sla"] == {"high": {"workaround": "4h"}}
    assert http.api("GET", "/api/v1/accounts/acme").json()["name"] == "Acme Corp"
    assert [a["id"] for a in http.api("GET", "/api/v1/accounts").json()] == ["acme"]
    r = http.api("GET", "/api/v1/accounts/nope")
    assert (r.status_code, r.json()["field"]) == (404, "id")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "X", "plan": "gold"}, "plan"),
        ({"name": "X", "plan": "standard", "emails": ["nope"]}, "emails[0]"),
        ({"name": "X", "plan": "standard", "colour": "red"}, "colour"),
        ({"plan": "standard"}, "name"),
        ({"name": "X", "plan": "standard", "sla": {"high": {"response": "1h"}}}, "sla"),
        ({"name": "X", "plan": "standard", "id": "other"}, "id"),
        ({"name": "X\x00", "plan": "standard"}, "name"),
    ],
)
def test_account_validation_errors_name_the_field(
    http: Served, body: dict[str, object], field: str
) -> None:
    r = http.api("PUT", "/api/v1/accounts/x", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field
    assert http.api("GET", "/api/v1/accounts").json() == []


def test_incident_create_is_idempotent(http: Served) -> None:
    _account(http)
    body = {
        "id": "HD-1",
        "account": "acme",
        "priority": "high",
        "title": "Down",
        "opened_at": _ago(hours=1),
        "via_hotline": True,
    }
    r = http.api("POST", "/api/v1/incidents", json=body)
    assert r.status_code == 201, r.text
    created = r.json()
    assert (created["id"], created["status"], created["via_hotline"]) == ("HD-1", "open", True)
    assert len(http.changes) == 1
    r = http.api("POST", "/api/v1/incidents", json=body)
    assert r.status_code == 200
    assert r.json()["opened_at"] == created["opened_at"]
    r = http.api("POST", "/api/v1/incidents", json={**body, "title": "Other"})
    assert (r.status_code, r.json()["field"]) == (409, "title")
    assert len(http.changes) == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"account": "nobody"}, "account"),
        ({"priority": "urgent"}, "priority"),
        ({"opened_at": "2026-11-20T10:00:00"}, "opened_at"),
        ({"opened_at": "yesterday"}, "opened_at"),
        ({"opened_at": "1900-01-01T00:00:00Z"}, "opened_at"),
        ({"opened_at": (datetime.now(UTC) + timedelta(days=1)).isoformat()}, "opened_at"),
        ({"title": 5}, "title"),
        ({"id": "a/b"}, "id"),
        ({"extra": 1}, "extra"),
    ],
)
def test_incident_validation(http: Served, change: dict[str, object], field: str) -> None:
    _account(http)
    body = {"id": "HD-1", "account": "acme", "priority": "high", "title": "Down", **change}
    r = http.api("POST", "/api/v1/incidents", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field
    assert http.api("GET", "/api/v1/incidents?state=all").json() == []


def test_invalid_json_is_422_naming_the_body(http: Served) -> None:
    r = http.api(
        "POST",
        "/api/v1/incidents",
        content=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 422
    assert r.json()["field"] == "body"


def test_incident_with_clocks_events_and_queue(http: Served) -> None:
    _account(http)
    _account(http, "small", "standard")
    http.api(
        "POST",
        "/api/v1/incidents",
        json={"id": "S-1", "account": "small", "priority": "high", "title": "s"},
    )
    r = http.api(
        "POST",
        "/api/v1/incidents",
        json={
            "id": "E-1",
            "account": "acme",
            "priority": "medium",
            "title": "e",
            "opened_at": _ago(hours=2),
        },
    )
    assert r.status_code == 201
    view = http.api("GET", "/api/v1/incidents/E-1").json()
    assert [(c["target"], c["state"]) for c in view["clocks"]] == [
        ("response", "running"),
        ("workaround", "running"),
        ("resolution", "running"),
    ]
    assert all(c["due_at"] and c["remaining"] for c in view["clocks"])
    assert [i["id"] for i in http.api("GET", "/api/v1/incidents?state=open").json()] == [
        "E-1",
        "S-1",
    ]
    page = http.api("GET", "/api/v1/incidents?state=open&limit=1&offset=1")
    assert [i["id"] for i in page.json()] == ["S-1"]
    for query, field in (("limit=0", "limit"), ("limit=10001", "limit"), ("offset=-1", "offset")):
        r = http.api("GET", f"/api/v1/incidents?{query}")
        assert (r.status_code, r.json()["field"]) == (422, field), r.text
    at = _ago(hours=1)
    r = http.api(
        "POST", "/api/v1/incidents/E-1/events", json={"type": "responded", "at": at, "by": "dan"}
    )
    assert r.status_code == 201
    assert r.json()["clocks"][0]["state"] == "met"
    r = http.api(
        "POST", "/api/v1/incidents/E-1/events", json={"type": "responded", "at": at, "by": "dan"}
    )
    assert r.status_code == 200
    r = http.api("POST", "/api/v1/incidents/E-1/events", json={"type": "resolved"})
    assert (r.status_code, r.json()["status"]) == (201, "resolved")
    r = http.api("POST", "/api/v1/incidents/E-1/events", json={"type": "responded"})
    assert (r.status_code, r.json()["field"]) == (422, "type")
    r = http.api("POST", "/api/v1/incidents/E-1/events", json={"type": "exploded"})
    assert (r.status_code, r.json()["field"]) == (422, "type")
    r = http.api(
        "POST",
        "/api/v1/incidents/E-1/events",
        json={"type": "reopened", "at": "2026-01-01T00:00:00"},
    )
    assert (r.status_code, r.json()["field"]) == (422, "at")
    r = http.api("POST", "/api/v1/incidents/E-404/events", json={"type": "resolved"})
    assert r.status_code == 404
    shown = http.api("GET", "/api/v1/incidents/E-1").json()
    assert [e["type"] for e in shown["events"]] == ["responded", "resolved"]
    assert [i["id"] for i in http.api("GET", "/api/v1/incidents?state=resolved").json()] == ["E-1"]
    assert http.api("GET", "/api/v1/incidents?state=closed").status_code == 422


def test_bodies_over_the_limit_get_413(http: Served) -> None:
    big = b'{"name": "' + b"x" * (1024 * 1024 + 10) + b'", "plan": "standard"}'
    r = http.api(
        "PUT", "/api/v1/accounts/big", content=big, headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 413
    assert r.json()["field"] == "body"

    def chunks() -> Iterator[bytes]:  # no Content-Length: chunked transfer
        yield big[:1000]
        yield big[1000:]

    r = http.api(
        "PUT",
        "/api/v1/accounts/big",
        content=chunks(),
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 413
    assert http.api("GET", "/api/v1/accounts").json() == []


def test_healthz(make_server: Callable[..., Served], tmp_path: Path) -> None:
    ok = make_server(scheduler_running=lambda: True)
    r = ok.client.get("/healthz")
    assert (r.status_code, r.json()) == (200, {"status": "ok", "database": True, "scheduler": True})
    stopped = make_server(scheduler_running=lambda: False)
    assert stopped.client.get("/healthz").status_code == 503


def test_healthz_503_when_the_database_is_gone(tmp_path: Path, sample_settings: Settings) -> None:
    broken_dir = tmp_path / "gone"
    db = Database(f"sqlite:///{broken_dir / 'x.db'}")
    broken_dir.rmdir()
    broken_dir.write_text("not a directory")
    gen = serve(create_app(db, sample_settings))
    url = next(gen)
    try:
        r = httpx.get(f"{url}/healthz")
        assert r.status_code == 503
        assert r.json()["database"] is False
    finally:
        gen.close()


def test_openapi_lists_the_issue_paths(http: Served) -> None:
    paths = http.client.get("/openapi.json").json()["paths"]
    assert set(paths) >= {
        "/api/v1/accounts",
        "/api/v1/accounts/{id}",
        "/api/v1/incidents",
        "/api/v1/incidents/{id}",
        "/api/v1/incidents/{id}/events",
        "/healthz",
    }
    assert set(paths["/api/v1/incidents"]) == {"get", "post"}
    assert set(paths["/api/v1/accounts/{id}"]) == {"get", "put"}


def test_control_characters_in_path_ids_are_422_not_500(http: Served) -> None:
    """PostgreSQL refuses NUL bytes in text; the id check must come first."""
    for path in ("/api/v1/incidents/a%00b", "/api/v1/accounts/a%00b", "/api/v1/incidents/a%01"):
        r = http.api("GET", path)
        assert r.status_code == 422, (path, r.text)
        assert r.json()["field"] == "id"
    r = http.api(
        "POST",
        "/api/v1/incidents",
        json={"id": "X-1", "account": "a\u0000b", "priority": "high", "title": "t"},
    )
    assert (r.status_code, r.json()["field"]) == (422, "account")


def test_an_unresolvable_token_secret_is_401(db: Database, sample_settings: Settings) -> None:
    gen = serve(create_app(db, sample_settings, environ={}))  # $SLAWATCH_TEST_TOKEN unset
    url = next(gen)
    try:
        r = httpx.get(f"{url}/api/v1/accounts", headers={"Authorization": "Bearer x"})
        assert r.status_code == 401
        assert "SLAWATCH_TEST_TOKEN" not in r.text
    finally:
        gen.close()


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/accounts/x", b'{"name": "bad \\ud800", "plan": "standard"}', "name"),
        (
            "/api/v1/accounts/x",
            b'{"name": "X", "plan": "standard", "emails": ["\\udfff@x.io"]}',
            "emails[0]",
        ),
        (
            "/api/v1/incidents",
            b'{"id": "a\\ud800", "account": "acme", "priority": "high", "title": "t"}',
            "id",
        ),
    ],
)
def test_lone_surrogates_are_refused(http: Served, path: str, body: bytes, field: str) -> None:
    """JSON may escape a lone surrogate; no database can store one (a 500 before)."""
    _account(http)
    method = "PUT" if "accounts" in path else "POST"
    r = http.api(method, path, content=body, headers={"Content-Type": "application/json"})
    assert (r.status_code, r.json()["field"]) == (422, field), r.text
