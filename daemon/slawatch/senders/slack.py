"""Slack delivery through ``slack_sdk.WebClient``: channels, direct messages and threads.

Addresses:

* ``#support``, ``support`` or a conversation id (``C...``, ``G...``, ``D...``): posted there
  directly (``chat.postMessage`` accepts ids and names);
* a user id (``U...``, ``W...``): a direct message, after ``conversations.open``;
* an email address: ``users.lookupByEmail`` (cached for the process), then
  ``conversations.open`` (cached too).

Threading: the first message about an incident in a conversation is a top-level post whose
``ts`` the dispatcher stores (:attr:`SendResult.thread_ref`); later ones pass it back and are
posted with ``thread_ts`` in that thread.

Failures (the dispatcher retries; this module only classifies):

* HTTP 429 / ``ratelimited``: temporary, ``retry_after_s`` from the ``Retry-After`` header;
* HTTP 5xx, Slack's ``internal_error``/``fatal_error``/``service_unavailable``, timeouts and
  connection errors: temporary;
* anything else Slack refuses (``invalid_auth``, ``channel_not_found``, ``not_in_channel``,
  ``users_not_found``, ``is_archived``, ...): permanent, with a hint on what to fix.

slack_sdk's own retry handlers are switched off (``retry_handlers=[]``): retrying inside a send
would hide rate limits from the dispatcher's backoff and could hold the dispatcher for minutes.
"""

from __future__ import annotations

import re
import threading
import urllib.error
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import structlog
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from slawatch.config.schema import SlackConfig
from slawatch.config.secrets import Secret, resolve_secret
from slawatch.errors import PermanentDeliveryError, TemporaryDeliveryError
from slawatch.senders.base import RenderedMessage, SendResult

log = structlog.get_logger("slawatch.senders.slack")

TEMPORARY_ERRORS = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)
THREAD_GONE = frozenset({"thread_not_found", "invalid_thread_ts"})
HINTS = {
    "invalid_auth": "the bot token is not valid; check [slack] token",
    "not_authed": "no bot token was sent; check [slack] token",
    "token_revoked": "the bot token was revoked; install the app again",
    "account_inactive": "the bot token belongs to a deactivated user or app",
    "channel_not_found": "the channel does not exist or the bot cannot see it",
    "not_in_channel": "invite the bot to the channel (/invite @slawatch)",
    "is_archived": "the channel is archived",
    "users_not_found": "no Slack user has this email address",
    "user_not_found": "no such Slack user",
    "missing_scope": "the bot token lacks a scope (chat:write, im:write, users:read.email)",
    "invalid_blocks": "a Slack template produced blocks Slack does not accept",
}
_USER = re.compile(r"^[UW][A-Z0-9]{2,}$")  # Slack ids: upper-case; channel names: lower-case


def _retry_after(headers: Any) -> float | None:
    if not headers:
        return None
    for key in ("Retry-After", "retry-after"):
        value = headers.get(key)
        if isinstance(value, list):
            value = value[0] if value else None
        if value is not None:
            try:
                return max(0.0, float(value))
            except ValueError:
                return None
    return None


class SlackSender:
    """Sends Block Kit messages (with their plain-text fallback) to Slack."""

    channels = frozenset({"slack"})

    def __init__(
        self,
        token: Secret,
        *,
        base_url: str = "https://slack.com/api/",
        timeout: timedelta = timedelta(seconds=10),
    ) -> None:
        self._client = WebClient(
            token=token.get(),
            base_url=base_url if base_url.endswith("/") else base_url + "/",
            timeout=timeout.total_seconds(),  # type: ignore[arg-type]  # urllib takes floats
            retry_handlers=[],
        )
        self._users: dict[str, str] = {}  # email -> user id
        self._dms: dict[str, str] = {}  # user id -> DM conversation id
        self._lock = threading.Lock()

    @classmethod
    def from_config(
        cls, config: SlackConfig, *, environ: Mapping[str, str] | None = None
    ) -> SlackSender:
        """Build from ``[slack]``, resolving the token reference (``SecretError`` if unset)."""
        return cls(
            resolve_secret(config.token, environ),
            base_url=config.base_url,
            timeout=config.timeout,
        )

    # ------------------------------------------------------------------------- API calls
    def _call(self, method: str, what: str, **kwargs: Any) -> Any:
        """Call ``method`` through the SDK's own method (which knows whether Slack wants JSON
        or form parameters) and translate every failure into a delivery error."""
        func = getattr(self._client, method.replace(".", "_"))
        try:
            return func(**kwargs)
        except SlackApiError as exc:
            response = exc.response
            status = int(getattr(response, "status_code", 0) or 0)
            data = response.data if isinstance(response.data, dict) else {}
            code = str(data.get("error") or f"http_{status}")
            if status == 429 or code == "ratelimited":
                wait = _retry_after(response.headers)
                raise TemporaryDeliveryError(
                    f"Slack rate limit on {method} ({what}); retry after {wait or '?'}s",
                    retry_after_s=wait,
                    code="ratelimited",
                ) from None
            if status >= 500 or code in TEMPORARY_ERRORS:
                raise TemporaryDeliveryError(
                    f"Slack {method} failed with HTTP {status} ({what})",
                    code=f"http_{status}" if status >= 500 else code,
                ) from None
            hint = HINTS.get(code, "Slack refused the request")
            raise PermanentDeliveryError(
                f"Slack {method} to {what}: {code} ({hint})", code=code
            ) from None
        except TimeoutError as exc:
            raise TemporaryDeliveryError(
                f"Slack {method} timed out ({what}): {exc}", code="timeout"
            ) from None
        except urllib.error.URLError as exc:
            reason = exc.reason
            code = "timeout" if isinstance(reason, TimeoutError) else "connection"
            raise TemporaryDeliveryError(
                f"cannot reach Slack for {method} ({what}): {reason}", code=code
            ) from None
        except (ConnectionError, OSError, SlackClientError) as exc:
            raise TemporaryDeliveryError(
                f"cannot reach Slack for {method} ({what}): {exc}", code="connection"
            ) from None

    def _user_id(self, email: str) -> str:
        key = email.strip().lower()
        with self._lock:
            cached = self._users.get(key)
        if cached:
            return cached
        data = self._call("users.lookupByEmail", email, email=email.strip())
        user_id = str(data["user"]["id"])
        with self._lock:
            self._users[key] = user_id
        return user_id

    def _dm_channel(self, user_id: str) -> str:
        with self._lock:
            cached = self._dms.get(user_id)
        if cached:
            return cached
        data = self._call("conversations.open", user_id, users=user_id)
        channel = str(data["channel"]["id"])
        with self._lock:
            self._dms[user_id] = channel
        return channel

    def resolve(self, address: str) -> str:
        """The conversation to post to for ``address`` (see the module docstring)."""
        target = address.strip()
        if not target:
            raise PermanentDeliveryError("empty Slack address", code="invalid_address")
        if "@" in target and not target.startswith("#"):
            return self._dm_channel(self._user_id(target))
        if _USER.match(target):
            return self._dm_channel(target)
        return target

    def check(self) -> dict[str, Any]:
        """``auth.test``: who the token belongs to (for ``slawatch notify test``)."""
        data = self._call("auth.test", "auth.test")
        return {k: data.get(k) for k in ("team", "user", "team_id", "user_id", "url")}

    # ------------------------------------------------------------------------------ send
    def send(self, message: RenderedMessage, address: str, *, thread_ref: str | None) -> SendResult:
        channel = self.resolve(address)
        payload: dict[str, Any] = {
            "channel": channel,
            "text": message.text,
            "unfurl_links": False,
            "unfurl_media": False,
        }
        if message.blocks:
            payload["blocks"] = [dict(b) for b in message.blocks]
        if thread_ref:
            payload["thread_ts"] = thread_ref
        for _ in range(3):
            try:
                data = self._call("chat.postMessage", address, **payload)
                break
            except PermanentDeliveryError as exc:
                if exc.code == "invalid_blocks" and "blocks" in payload:
                    # A user template produced blocks Slack refuses: the text still informs.
                    log.warning(
                        "slack_blocks_rejected", stage=message.stage, incident=message.incident_id
                    )
                    payload.pop("blocks")
                elif exc.code in THREAD_GONE and "thread_ts" in payload:
                    # The thread's parent was deleted: start a new thread rather than fail.
                    log.warning("slack_thread_gone", incident=message.incident_id)
                    payload.pop("thread_ts")
                    thread_ref = None
                else:
                    raise
        else:  # pragma: no cover - each retry removes one field, so the loop ends earlier
            raise PermanentDeliveryError("Slack refused the message", code="unknown")
        ts = str(data["ts"])
        log.info(
            "slack_sent",
            channel=data.get("channel", channel),
            ts=ts,
            threaded=bool(thread_ref),
            stage=message.stage,
            incident=message.incident_id,
        )
        return SendResult(provider_message_id=ts, thread_ref=thread_ref or ts)
