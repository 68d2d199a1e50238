"""The Twilio status-callback route: signatures checked with RequestValidator, 403 otherwise."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from twilio.request_validator import RequestValidator

from slawatch.api.twilio_callback import twilio_callback_router
from slawatch.config.secrets import Secret
from slawatch.store.db import Database

TOKEN = "twilio-secret"
PUBLIC = "https://slawatch.example.com/twilio/status"


@pytest.fixture
def receipts() -> list[tuple[str, str, str | None]]:
    return []


@pytest.fixture
def client(receipts: list[tuple[str, str, str | None]]) -> TestClient:
    def record(sid: str, status: str, error_code: str | None) -> bool:
        receipts.append((sid, status, error_code))
        return sid.startswith("SM")

    app = FastAPI()
    app.include_router(twilio_callback_router(Secret(TOKEN, "env:T"), record, callback_url=PUBLIC))
    return TestClient(app)


def post(client: TestClient, form: dict[str, str], signature: str | None):  # type: ignore[no-untyped-def]
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if signature is not None:
        headers["X-Twilio-Signature"] = signature
    return client.post("/twilio/status", content=urlencode(form), headers=headers)


FORM = {"MessageSid": "SM123", "MessageStatus": "delivered", "AccountSid": "AC1", "To": "+1555"}


def test_valid_signature_records_the_receipt(client: TestClient, receipts: list) -> None:  # type: ignore[type-arg]
    signature = RequestValidator(TOKEN).compute_signature(PUBLIC, FORM)
    response = post(client, FORM, signature)
    assert response.status_code == 200 and response.json() == {"recorded": True}
    assert receipts == [("SM123", "delivered", None)]


def test_failed_receipt_carries_the_error_code(client: TestClient, receipts: list) -> None:  # type: ignore[type-arg]
    form = {**FORM, "MessageStatus": "undelivered", "ErrorCode": "30003"}
    response = post(client, form, RequestValidator(TOKEN).compute_signature(PUBLIC, form))
    assert response.status_code == 200
    assert receipts == [("SM123", "undelivered", "30003")]


@pytest.mark.parametrize(
    "signature",
    [
        None,
        "",
        "bm90IGEgc2lnbmF0dXJl",
        RequestValidator("other-token").compute_signature(PUBLIC, FORM),
        RequestValidator(TOKEN).compute_signature("https://evil.example/twilio/status", FORM),
    ],
)
def test_invalid_or_missing_signature_is_403_and_records_nothing(
    client: TestClient,
    receipts: list,
    signature: str | None,  # type: ignore[type-arg]
) -> None:
    response = post(client, FORM, signature)
    assert response.status_code == 403
    assert response.json()["field"] == "X-Twilio-Signature"
    assert receipts == []


def test_tampered_body_is_403(client: TestClient, receipts: list) -> None:  # type: ignore[type-arg]
    signature = RequestValidator(TOKEN).compute_signature(PUBLIC, FORM)
    response = post(client, {**FORM, "MessageStatus": "failed"}, signature)
    assert response.status_code == 403 and receipts == []


def test_signed_but_incomplete_is_400_naming_the_field(client: TestClient) -> None:
    form = {"MessageStatus": "sent"}
    response = post(client, form, RequestValidator(TOKEN).compute_signature(PUBLIC, form))
    assert response.status_code == 400 and response.json()["field"] == "MessageSid"


def test_unknown_sid_is_accepted_but_reported(client: TestClient) -> None:
    form = {**FORM, "MessageSid": "XX999"}
    response = post(client, form, RequestValidator(TOKEN).compute_signature(PUBLIC, form))
    assert response.status_code == 200 and response.json() == {"recorded": False}


def test_without_callback_url_the_request_url_is_signed(receipts: list) -> None:  # type: ignore[type-arg]
    app = FastAPI()
    app.include_router(
        twilio_callback_router(Secret(TOKEN, "env:T"), lambda *a: bool(receipts.append(a)) or True)
    )
    client = TestClient(app, base_url="http://testserver")
    url = "http://testserver/twilio/status"
    response = post(client, FORM, RequestValidator(TOKEN).compute_signature(url, FORM))
    assert response.status_code == 200 and len(receipts) == 1


# ------------------------------------------------------------------- with the real outbox
def test_receipts_reach_the_outbox_row_and_never_go_backwards(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import UTC, datetime

    from slawatch.api.twilio_callback import router_from_settings
    from slawatch.config.loader import build_settings
    from slawatch.store import outbox
    from slawatch.store.models import Notification

    monkeypatch.setenv("TEST_TWILIO_TOKEN", TOKEN)
    settings = build_settings(
        {"sms": {"account_sid": "AC1", "auth_token": "env:TEST_TWILIO_TOKEN",
                 "from": "+15005550006", "status_callback": PUBLIC}},
        None,
    )  # fmt: skip
    assert router_from_settings(build_settings({}, None), db) is None
    router = router_from_settings(settings, db)
    assert router is not None
    app = FastAPI()
    app.include_router(router)
    client = TestClient(app)
    now = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    with db.session() as session:
        row_id = outbox.enqueue(
            session,
            outbox.NewNotification(
                dedupe_key="k", kind="page", stage="page", recipient="ivan", channel="sms",
                next_attempt_at=now,
            ),
            now,
        )  # fmt: skip
        assert row_id is not None
        outbox.mark_sent(session, row_id, now, provider_message_id="SMabc", address="+1555")

    def status_of() -> str | None:
        with db.read_session() as session:
            return session.get(Notification, row_id).delivery_status  # type: ignore[union-attr]

    def send(status: str, code: str | None = None) -> dict[str, object]:
        form = {"MessageSid": "SMabc", "MessageStatus": status}
        if code:
            form["ErrorCode"] = code
        response = post(client, form, RequestValidator(TOKEN).compute_signature(PUBLIC, form))
        assert response.status_code == 200
        return response.json()  # type: ignore[no-any-return]

    assert send("sent") == {"recorded": True} and status_of() == "sent"
    assert send("undelivered", "30003") == {"recorded": True}
    assert status_of() == "undelivered:30003"
    send("sent")  # late, out of order: ignored
    assert status_of() == "undelivered:30003"
    response = post(client, {"MessageSid": "SMabc", "MessageStatus": "delivered"}, "bad")
    assert response.status_code == 403 and status_of() == "undelivered:30003"
    form = {"MessageSid": "SMother", "MessageStatus": "delivered"}
    unknown = post(client, form, RequestValidator(TOKEN).compute_signature(PUBLIC, form))
    assert unknown.json() == {"recorded": False}
