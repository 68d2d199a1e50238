"""SMS delivery through Twilio's official client (``twilio.rest.Client``).

The API base URL is configurable (``[sms] base_url``) for proxies and for the local test server,
but twilio-python has no setting for it: ``twilio.rest.api.ApiBase`` hard-codes
``https://api.twilio.com`` when ``client.api`` is first built, and ``Domain.absolute_url`` joins
every request path onto ``client.api.base_url``. So :class:`TwilioSmsSender` sets
``client.api.base_url`` right after creating the client, before the first request.

That only works while ``Client.get_hostname`` leaves the URL alone, which it does only when no
*edge* or *region* is set. The client reads ``TWILIO_EDGE`` and ``TWILIO_REGION`` from the
environment and would rewrite our host into ``api.<edge>.<region>.twilio.com``-style names, so
those variables must be unset. The sender clears ``client.edge`` and ``client.region`` and logs a
warning when the variables are present; to use a Twilio edge, put its host in ``base_url``
(e.g. ``https://api.dublin.ie1.twilio.com``).

twilio-python never retries, and the sender does not either (the dispatcher does). A
``TwilioRestException`` is classified here:

* permanent: 21211 (invalid ``To``), 21610 (recipient unsubscribed with STOP), 21614 (not a
  mobile number), 21408 (region not enabled), 20003 (authentication), and any other 4xx;
* temporary: HTTP 429, code 20429 (too many requests), any 5xx, timeouts and connection errors.

Twilio's message SID (``SM...``) is returned as the provider message id; with
``[sms] status_callback`` set, Twilio posts delivery receipts there (see
``slawatch.api.twilio_callback``). Phone numbers in logs and errors are masked.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import requests
import structlog
from twilio.base.exceptions import TwilioRestException, TwilioServiceException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from slawatch.config.schema import SmsConfig
from slawatch.config.secrets import Secret, resolve_secret
from slawatch.errors import PermanentDeliveryError, TemporaryDeliveryError
from slawatch.senders.base import RenderedMessage, SendResult, mask_phone

log = structlog.get_logger("slawatch.senders.sms")

PERMANENT_CODES = {
    21211: "the 'To' number is not a valid phone number",
    21610: "the recipient unsubscribed (replied STOP)",
    21614: "the 'To' number is not a mobile number",
    21408: "sending to this region is not enabled on the Twilio account",
    20003: "Twilio authentication failed; check [sms] account_sid and auth_token",
    21606: "the 'From' number cannot send SMS",
    21603: "no 'From' number or messaging service",
}
TEMPORARY_CODES = {20429: "too many requests"}


class _RecordingHttpClient(TwilioHttpClient):  # type: ignore[misc]  # twilio is untyped here
    """Twilio's HTTP client, remembering the last response so a 429's ``Retry-After`` header
    (which ``TwilioRestException`` does not carry) can be honoured."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__(timeout=timeout_s)
        self._local = threading.local()

    def request(self, *args: Any, **kwargs: Any) -> Response:
        self._local.last = None
        response = super().request(*args, **kwargs)
        self._local.last = response
        return response

    def last_retry_after(self) -> float | None:
        response = getattr(self._local, "last", None)
        headers = getattr(response, "headers", None) or {}
        value = headers.get("Retry-After")
        try:
            return max(0.0, float(value)) if value is not None else None
        except ValueError:
            return None


def classify(status: int, code: int | None, retry_after: float | None, to: str) -> Exception:
    """The delivery error for a Twilio error reply (HTTP ``status``, Twilio ``code``)."""
    who = mask_phone(to)
    if code == status:
        code = None  # twilio-python puts the HTTP status there when the body is not JSON
    label = f"twilio_{code}" if code else f"http_{status}"
    if status == 429 or code in TEMPORARY_CODES:
        return TemporaryDeliveryError(
            f"Twilio rate limit sending to {who} (code {code or status})",
            retry_after_s=retry_after,
            code=label,
        )
    if status >= 500:
        return TemporaryDeliveryError(
            f"Twilio server error HTTP {status} sending to {who}", code=label
        )
    reason = PERMANENT_CODES.get(code or 0, f"Twilio refused the message (HTTP {status})")
    return PermanentDeliveryError(f"SMS to {who}: {reason} (code {code or status})", code=label)


class TwilioSmsSender:
    """Sends SMS text through Twilio's Messages API."""

    channels = frozenset({"sms"})

    def __init__(
        self,
        account_sid: str,
        auth_token: Secret,
        *,
        from_: str | None = None,
        messaging_service_sid: str | None = None,
        base_url: str = "https://api.twilio.com",
        status_callback: str | None = None,
        timeout: timedelta = timedelta(seconds=10),
    ) -> None:
        if (from_ is None) == (messaging_service_sid is None):
            raise ValueError("give exactly one of from_ and messaging_service_sid")
        self._from = from_
        self._service = messaging_service_sid
        self._status_callback = status_callback
        self._http = _RecordingHttpClient(timeout.total_seconds())
        self._client = Client(account_sid, auth_token.get(), http_client=self._http)
        for variable in ("TWILIO_EDGE", "TWILIO_REGION"):
            if os.environ.get(variable):
                log.warning("twilio_env_ignored", variable=variable, base_url=base_url)
        # See the module docstring: no edge/region rewriting, and our base URL, set before
        # the first request.
        self._client.edge = None
        self._client.region = None
        self._client.api.base_url = base_url.rstrip("/")
        self.base_url = self._client.api.base_url

    @classmethod
    def from_config(
        cls, config: SmsConfig, *, environ: Mapping[str, str] | None = None
    ) -> TwilioSmsSender:
        """Build from ``[sms]``, resolving the auth token reference."""
        return cls(
            config.account_sid,
            resolve_secret(config.auth_token, environ),
            from_=config.from_,
            messaging_service_sid=config.messaging_service_sid,
            base_url=config.base_url,
            status_callback=config.status_callback,
            timeout=config.timeout,
        )

    def send(self, message: RenderedMessage, address: str, *, thread_ref: str | None) -> SendResult:
        body = message.sms or message.text
        params: dict[str, Any] = {"to": address, "body": body}
        if self._service is not None:
            params["messaging_service_sid"] = self._service
        else:
            params["from_"] = self._from
        if self._status_callback:
            params["status_callback"] = self._status_callback
        try:
            created = self._client.messages.create(**params)
        except TwilioRestException as exc:
            raise classify(
                int(exc.status), exc.code, self._http.last_retry_after(), address
            ) from None
        except TwilioServiceException as exc:
            raise classify(
                int(exc.status), exc.code, self._http.last_retry_after(), address
            ) from None
        except requests.Timeout:
            raise TemporaryDeliveryError(
                f"Twilio timed out sending to {mask_phone(address)}", code="timeout"
            ) from None
        except (requests.ConnectionError, OSError) as exc:
            raise TemporaryDeliveryError(
                f"cannot reach Twilio at {self.base_url}: {type(exc).__name__}",
                code="connection",
            ) from None
        sid = str(created.sid)
        log.info(
            "sms_sent",
            sid=sid,
            to=mask_phone(address),
            status=created.status,
            stage=message.stage,
            incident=message.incident_id,
        )
        return SendResult(provider_message_id=sid, thread_ref=None)
