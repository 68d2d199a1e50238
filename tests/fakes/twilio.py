"""A local server for Twilio's Messages endpoint.

``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` with HTTP Basic auth
(account SID : auth token), form fields ``To``, ``From`` or ``MessagingServiceSid``, ``Body`` and
optional ``StatusCallback``; answers ``201`` with a message resource (``sid`` ``SM...``,
``status`` ``queued``). Point a ``twilio.rest.Client`` at it by setting
``client.api.base_url = fake.url``.

Built-in checks like the real API: a wrong SID or token -> 401 (code 20003); a ``To`` that is not
E.164 -> 400 code 21211; ``To`` in :attr:`FakeTwilio.unsubscribed` -> 400 code 21610.
Failure injection: :meth:`error` (any status and Twilio code, e.g. 429/20429, 400/21614,
400/21408, 503), :meth:`slow` (a client timeout).
"""

from __future__ import annotations

import base64
import itertools
import re
from typing import Any

from fakes.http import Failure, FakeHttpServer, Recorded, Reply

_PATH = re.compile(r"^/2010-04-01/Accounts/(?P<sid>[^/]+)/Messages\.json$")
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")


def twilio_error(status: int, code: int, message: str) -> dict[str, Any]:
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


class FakeTwilio(FakeHttpServer):
    def __init__(
        self, account_sid: str = "AC" + "0" * 32, auth_token: str = "twilio-secret"
    ) -> None:
        super().__init__()
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.unsubscribed: set[str] = set()
        self.messages: list[dict[str, Any]] = []
        self._sid = itertools.count(1)

    def error(
        self,
        status: int,
        code: int | None,
        message: str = "error",
        *,
        retry_after: int | None = None,
        times: int = 1,
    ) -> None:
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        body: Any = twilio_error(status, code, message) if code is not None else "<html>oops</html>"
        self.fail_next(Failure(status, body, headers), times)

    def slow(self, delay_s: float = 2.0, times: int = 1) -> None:
        self.fail_next(Failure(201, {"sid": "SMslow"}, delay_s=delay_s), times)

    def handle(self, rec: Recorded) -> Reply:
        match = _PATH.match(rec.path)
        if rec.method != "POST" or match is None:
            return Reply(404, twilio_error(404, 20404, "The requested resource was not found"))
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        if (
            match["sid"] != self.account_sid
            or rec.headers.get("Authorization") != f"Basic {expected}"
        ):
            return Reply(401, twilio_error(401, 20003, "Authenticate"))
        to = str(rec.params.get("To", ""))
        if not _E164.match(to):
            return Reply(
                400, twilio_error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
            )
        if to in self.unsubscribed:
            return Reply(400, twilio_error(400, 21610, "Attempt to send to unsubscribed recipient"))
        if not rec.params.get("From") and not rec.params.get("MessagingServiceSid"):
            return Reply(400, twilio_error(400, 21603, "A 'From' phone number is required."))
        sid = f"SM{next(self._sid):032x}"
        resource = {
            "sid": sid,
            "account_sid": self.account_sid,
            "to": to,
            "from": rec.params.get("From"),
            "messaging_service_sid": rec.params.get("MessagingServiceSid"),
            "body": rec.params.get("Body"),
            "status": "queued",
            "num_segments": "1",
            "direction": "outbound-api",
            "api_version": "2010-04-01",
            "date_created": "Thu, 24 Dec 2026 14:30:00 +0000",
            "date_updated": "Thu, 24 Dec 2026 14:30:00 +0000",
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
        }
        self.messages.append({**resource, "status_callback": rec.params.get("StatusCallback")})
        return Reply(201, resource)
