"""A local server for the Slack Web API methods slawatch uses.

Methods: ``auth.test``, ``chat.postMessage``, ``users.lookupByEmail``, ``conversations.open``.
Point ``slack_sdk.WebClient(base_url=fake.base_url)`` at it. Requests must carry
``Authorization: Bearer <token>``; a wrong token gets ``invalid_auth``. Posted messages are kept
in :attr:`FakeSlack.messages` with the ``ts`` the server assigned.

Failure injection (each applies to the next matching request):

* :meth:`rate_limit` -> HTTP 429, ``Retry-After`` and ``{"ok": false, "error": "ratelimited"}``;
* :meth:`server_error` -> HTTP 5xx with an HTML body;
* :meth:`slow` -> answers after ``delay_s`` (a client timeout);
* :meth:`error` -> HTTP 200 ``{"ok": false, "error": CODE}`` (``invalid_auth``,
  ``channel_not_found``, ``not_in_channel``, ``users_not_found``, ...).
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from typing import Any

from fakes.http import Failure, FakeHttpServer, Recorded, Reply


@dataclass
class PostedMessage:
    channel: str
    ts: str
    text: str | None
    blocks: Any
    thread_ts: str | None
    params: dict[str, Any] = field(repr=False, default_factory=dict)


def _for(method: str) -> Any:
    return lambda rec: rec.path.rstrip("/").endswith("/" + method)


class FakeSlack(FakeHttpServer):
    def __init__(self, token: str = "xoxb-test-token") -> None:
        super().__init__()
        self.token = token
        # name -> id; ids are also accepted directly
        self.channels: dict[str, str] = {"support": "C0SUPPORT", "general": "C0GENERAL"}
        self.members: set[str] = {"C0SUPPORT", "C0GENERAL"}  # channels the bot is in
        self.users: dict[str, str] = {"maria@example.com": "U0MARIA", "ivan@example.com": "U0IVAN"}
        self.messages: list[PostedMessage] = []
        self._ts = itertools.count(1)
        self._msg_lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return self.url + "/api/"

    # ---------------------------------------------------------------------- injection
    def rate_limit(
        self, method: str = "chat.postMessage", retry_after: int = 7, times: int = 1
    ) -> None:
        self.fail_next(
            Failure(
                429,
                {"ok": False, "error": "ratelimited"},
                {"Retry-After": str(retry_after)},
                match=_for(method),
            ),
            times,
        )

    def server_error(
        self, method: str = "chat.postMessage", status: int = 503, times: int = 1
    ) -> None:
        self.fail_next(
            Failure(status, "<html>Service Unavailable</html>", match=_for(method)), times
        )

    def slow(self, method: str = "chat.postMessage", delay_s: float = 2.0, times: int = 1) -> None:
        self.fail_next(Failure(200, {"ok": True}, delay_s=delay_s, match=_for(method)), times)

    def error(self, code: str, method: str = "chat.postMessage", times: int = 1) -> None:
        self.fail_next(Failure(200, {"ok": False, "error": code}, match=_for(method)), times)

    def calls(self, method: str) -> list[Recorded]:
        return [r for r in self.requests if r.path.rstrip("/").endswith("/" + method)]

    # ------------------------------------------------------------------------ methods
    def handle(self, rec: Recorded) -> Reply:
        if rec.headers.get("Authorization") != f"Bearer {self.token}":
            return Reply(200, {"ok": False, "error": "invalid_auth"})
        method = rec.path.rstrip("/").rsplit("/", 1)[-1]
        handler = getattr(self, "_" + method.replace(".", "_"), None)
        if handler is None:
            return Reply(200, {"ok": False, "error": "unknown_method"})
        return Reply(200, handler(rec.params))

    def _auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://fake.slack.test/",
            "team": "Fake",
            "user": "slawatch",
            "team_id": "T0FAKE",
            "user_id": "U0BOT",
            "bot_id": "B0BOT",
        }

    def _users_lookupByEmail(self, params: dict[str, Any]) -> dict[str, Any]:
        uid = self.users.get(str(params.get("email", "")).lower())
        if uid is None:
            return {"ok": False, "error": "users_not_found"}
        return {"ok": True, "user": {"id": uid, "name": uid.lower(), "profile": {}}}

    def _conversations_open(self, params: dict[str, Any]) -> dict[str, Any]:
        users = str(params.get("users", ""))
        if not users or any(u not in self.users.values() for u in users.split(",")):
            return {"ok": False, "error": "user_not_found"}
        channel = "D" + users.replace(",", "")[1:]
        self.members.add(channel)
        return {"ok": True, "channel": {"id": channel}}

    def _chat_postMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        target = str(params.get("channel", ""))
        channel = self.channels.get(target.lstrip("#"), target if target[:1] in "CDG" else None)
        if channel is None or (
            channel not in self.members and channel not in self.channels.values()
        ):
            return {"ok": False, "error": "channel_not_found"}
        if channel not in self.members:
            return {"ok": False, "error": "not_in_channel"}
        if not params.get("text") and not params.get("blocks"):
            return {"ok": False, "error": "no_text"}
        with self._msg_lock:
            ts = f"1700000000.{next(self._ts):06d}"
            thread_ts = params.get("thread_ts")
            self.messages.append(
                PostedMessage(
                    channel, ts, params.get("text"), params.get("blocks"), thread_ts, params
                )
            )
        return {
            "ok": True,
            "channel": channel,
            "ts": ts,
            "message": {"text": params.get("text"), "ts": ts},
        }
