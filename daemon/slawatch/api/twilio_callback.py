"""``POST /twilio/status``: Twilio's SMS delivery receipts, checked with ``X-Twilio-Signature``.

With ``[sms] status_callback`` set, Twilio posts each status change of a message we sent
(``queued``, ``sent``, ``delivered``, ``undelivered``, ``failed``, ...) to that URL as a form with
``MessageSid``, ``MessageStatus`` and, on failures, ``ErrorCode``. Anyone can post to a public
URL, so every request is checked with twilio's ``RequestValidator``: an HMAC of the URL and the
form fields keyed with the account's auth token. A missing or wrong signature gets **403** and
records nothing.

The URL that is signed is the one Twilio called. Behind a reverse proxy the daemon sees another
one, so pass ``callback_url`` (the configured ``[sms] status_callback``); only without it the
request's own URL is used. Signatures made with a webhook *shared key*
(``X-Twilio-Webhooks-Signature-Settings: key=...``) are not supported: slawatch only knows the
auth token.

Include it with ``app.include_router(router)`` where ``router = router_from_settings(settings,
db)`` (``None`` when ``[sms] status_callback`` is not set), or build it yourself with
``twilio_callback_router(token, record, callback_url=...)``;
``record(message_sid, status, error_code)`` stores the receipt against the notification (e.g.
``store.outbox.set_delivery_status``) and returns whether the SID was known. It runs in a worker
thread, so it may use the database synchronously.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlsplit

import structlog
from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy import select
from twilio.request_validator import RequestValidator, get_signature_algorithm

from slawatch.config.loader import Settings
from slawatch.config.secrets import Secret, resolve_secret
from slawatch.store import outbox
from slawatch.store.db import Database
from slawatch.store.models import Notification

__all__ = ["RecordReceipt", "router_from_settings", "store_recorder", "twilio_callback_router"]

log = structlog.get_logger("slawatch.api.twilio")

RecordReceipt = Callable[[str, str, str | None], bool]
DEFAULT_PATH = "/twilio/status"


class _FormParams(dict[str, str]):
    """Form fields as RequestValidator wants them: one value each, ``getall`` for repeats."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        super().__init__()
        self._all: dict[str, list[str]] = {}
        for key, value in pairs:
            self._all.setdefault(key, []).append(value)
            self.setdefault(key, value)

    def getall(self, key: str) -> list[str]:
        return self._all[key]


def _problem(status: int, field: str, reason: str) -> JSONResponse:
    return JSONResponse({"error": reason, "field": field}, status_code=status)


def twilio_callback_router(
    auth_token: Secret,
    record: RecordReceipt,
    *,
    callback_url: str | None = None,
    path: str = DEFAULT_PATH,
) -> APIRouter:
    """A router with ``POST {path}`` validating Twilio's signature before calling ``record``."""
    validator = RequestValidator(auth_token.get())
    router = APIRouter()

    @router.post(path, include_in_schema=False)
    async def twilio_status(request: Request) -> Response:
        body = (await request.body()).decode("utf-8", "replace")
        params = _FormParams(parse_qsl(body, keep_blank_values=True))
        signature = request.headers.get("X-Twilio-Signature")
        url = callback_url or str(request.url)
        algorithm = get_signature_algorithm(
            request.headers.get("X-Twilio-Webhooks-Signature-Settings")
        )
        if not signature or not validator.validate(url, params, signature, algorithm):
            log.warning("twilio_callback_rejected", reason="invalid signature", url=url)
            return _problem(403, "X-Twilio-Signature", "invalid or missing Twilio signature")
        sid = params.get("MessageSid") or params.get("SmsSid")
        status = params.get("MessageStatus") or params.get("SmsStatus")
        if not sid:
            return _problem(400, "MessageSid", "missing")
        if not status:
            return _problem(400, "MessageStatus", "missing")
        error_code = params.get("ErrorCode") or None
        known = await run_in_threadpool(record, sid, status, error_code)
        log.info("twilio_receipt", sid=sid, status=status, error_code=error_code, known=known)
        return JSONResponse({"recorded": bool(known)})

    return router


# --------------------------------------------------------------------------- store wiring
#: Twilio's message states in the order they happen; a receipt never moves a row backwards
#: (Twilio does not promise to deliver callbacks in order).
STATUS_RANK = {
    "accepted": 0,
    "scheduled": 0,
    "queued": 0,
    "sending": 1,
    "sent": 2,
    "delivered": 3,
    "undelivered": 3,
    "failed": 3,
    "read": 4,
    "canceled": 4,
}


def store_recorder(db: Database, clock: Callable[[], datetime] | None = None) -> RecordReceipt:
    """A ``record`` callable that writes receipts to the outbox row with that SID.

    The stored ``delivery_status`` is the status, with Twilio's error code for failures
    (``"undelivered:30003"``); a late receipt for an earlier state is ignored.
    """
    now_of = clock or (lambda: datetime.now(UTC))

    def record(sid: str, status: str, error_code: str | None) -> bool:
        value = f"{status}:{error_code}" if error_code else status
        with db.session() as session:
            current = session.execute(
                select(Notification.delivery_status).where(Notification.provider_message_id == sid)
            ).first()
            if current is None:
                return False
            old = (current[0] or "").partition(":")[0]
            if STATUS_RANK.get(old, -1) > STATUS_RANK.get(status, 0):
                return True
            return outbox.set_delivery_status(session, sid, value[:50], now_of())

    return record


def router_from_settings(settings: Settings, db: Database) -> APIRouter | None:
    """The callback router for ``[sms]``, or ``None`` when receipts are not configured.

    Mounted at the path of ``[sms] status_callback`` (default ``/twilio/status``), validating
    against that URL. Resolves the auth token now (``SecretError`` if it is unset).
    """
    sms = settings.file.sms
    if sms is None or not sms.status_callback:
        return None
    path = urlsplit(sms.status_callback).path or DEFAULT_PATH
    return twilio_callback_router(
        resolve_secret(sms.auth_token),
        store_recorder(db),
        callback_url=sms.status_callback,
        path=path,
    )
