"""The composition root: the one place where configuration becomes running parts.

Everything else receives its collaborators; only this module knows which sender serves which
channel, how secrets are resolved and registered for redaction, and how intake is hooked to the
escalation policy so a change is evaluated at once (in the CLI as in the daemon).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from slawatch.config.loader import Settings
from slawatch.config.policy_context import policy_context
from slawatch.config.secrets import Secret, embedded_refs, resolve_embedded, resolve_secret
from slawatch.core.delivery import RateLimiter
from slawatch.core.policy import PolicyContext
from slawatch.obs.logging import get_logger, register_secret
from slawatch.render.renderer import Renderer
from slawatch.runtime.dispatch import DispatchEnv
from slawatch.senders.base import Sender
from slawatch.service.escalation import evaluate_incidents
from slawatch.store import repo
from slawatch.store.db import Database, default_sqlite_path

JSONL_FILENAME = "notifications.jsonl"


def utc_now() -> datetime:
    return datetime.now(UTC)


def secret(reference: str, environ: Mapping[str, str] | None = None) -> Secret:
    """Resolve a secret reference and register its value for log redaction."""
    value = resolve_secret(reference, environ)
    register_secret(value)
    return value


def resolve_all_secrets(settings: Settings, environ: Mapping[str, str] | None = None) -> None:
    """Resolve (and register for redaction) every secret now, so a missing one fails the start."""
    f = settings.file
    for ref in f.api.tokens:
        secret(ref, environ)
    if f.slack is not None:
        secret(f.slack.token, environ)
    if f.sms is not None:
        secret(f.sms.auth_token, environ)
    if f.email is not None and f.email.password is not None:
        secret(f.email.password, environ)
    if f.database.url and embedded_refs(f.database.url):
        for ref in embedded_refs(f.database.url):
            secret(ref, environ)
        register_secret(resolve_embedded(f.database.url, environ))


def jsonl_path(settings: Settings, db: Database | None = None) -> Path:
    """``[output] jsonl_path``, else ``notifications.jsonl`` next to the SQLite database."""
    configured = settings.file.output.jsonl_path
    if configured:
        return Path(configured)
    base = db.sqlite_path if db is not None and db.sqlite_path is not None else None
    return (base or default_sqlite_path()).with_name(JSONL_FILENAME)


def build_senders(
    settings: Settings,
    *,
    db: Database | None = None,
    stream: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
) -> dict[str, Sender]:
    """One sender per channel: the configured provider, else the console and file senders."""
    from slawatch.senders.factory import build_senders as from_config

    return from_config(
        settings, stdout=stream, default_jsonl_path=jsonl_path(settings, db), environ=environ
    )


def build_dispatch_env(
    settings: Settings,
    *,
    db: Database | None = None,
    stream: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
) -> DispatchEnv:
    return DispatchEnv(
        settings=settings,
        policy=policy_context(settings),
        senders=build_senders(settings, db=db, stream=stream, environ=environ),
        renderer=Renderer(settings),
    )


def build_limiter(settings: Settings, now: float) -> RateLimiter:
    delivery = settings.file.delivery
    return RateLimiter(
        {str(k): v for k, v in delivery.channel_rate_per_minute.items()},
        {str(k): v for k, v in delivery.recipient_rate_per_minute.items()},
        now=now,
    )


def evaluate_now(
    db: Database,
    settings_ref: Callable[[], tuple[Settings, PolicyContext]],
    clock: Callable[[], datetime] = utc_now,
    after: Callable[[int], None] | None = None,
) -> Callable[[int], None]:
    """An ``on_change`` hook for :class:`~slawatch.service.intake.Intake`.

    It evaluates the changed incident with the escalation policy right away (enqueuing what is
    due, e.g. a hotline page, and storing the policy's ``next_check_at``), then calls ``after``
    (the daemon wakes its dispatcher). ``settings_ref`` returns the settings in force, so a
    reload is honoured.
    """

    def on_change(incident_id: int) -> None:
        settings, ctx = settings_ref()
        now = clock()
        with db.session() as session:
            incidents = repo.load_incidents(session, [incident_id], for_update=True)
            summary = evaluate_incidents(session, incidents, settings, ctx, now)
        for failed_id, error in summary.failed:
            get_logger("slawatch.intake").error(
                "evaluation_failed", incident_id=failed_id, error=error
            )
        if after is not None and summary.enqueued:
            after(incident_id)

    return on_change


def build_intake(db: Database, settings: Settings, **kwargs: Any) -> Any:
    """The CLI's intake: every change is evaluated with the policy at once."""
    from slawatch.service.intake import Intake

    ctx = policy_context(settings)
    return Intake(db, settings, on_change=evaluate_now(db, lambda: (settings, ctx)), **kwargs)


class DaemonParts:
    """The daemon's parts (see :class:`slawatch.runtime.daemon.Parts`)."""

    def resolve_secrets(self, settings: Settings, environ: Mapping[str, str]) -> None:
        resolve_all_secrets(settings, environ)

    def dispatch_env(
        self, settings: Settings, db: Database, environ: Mapping[str, str]
    ) -> DispatchEnv:
        return build_dispatch_env(settings, db=db, environ=environ)

    def limiter(self, settings: Settings, now: float) -> RateLimiter:
        return build_limiter(settings, now)

    def intake(self, daemon: Any) -> Any:
        from slawatch.service.intake import Intake

        return Intake(
            daemon.db,
            daemon.loaded.settings,
            on_change=evaluate_now(
                daemon.db, daemon._current, after=lambda _id: daemon.wake_dispatch()
            ),
        )

    def api_app(self, daemon: Any) -> Any:
        """The HTTP API as the daemon serves it: the API, /metrics and Twilio receipts."""
        from slawatch.api.app import create_app
        from slawatch.api.metrics_route import metrics_router

        settings: Settings = daemon.loaded.settings
        app = create_app(
            daemon.db,
            settings,
            intake=daemon.intake,
            scheduler_running=lambda: daemon.timer.running,
            environ=daemon.environ,
        )
        app.include_router(metrics_router(daemon.metrics))
        if settings.file.sms is not None:
            from urllib.parse import urlsplit

            from slawatch.api.twilio_callback import (
                DEFAULT_PATH,
                store_recorder,
                twilio_callback_router,
            )

            token = secret(settings.file.sms.auth_token, daemon.environ)
            callback_url = settings.file.sms.status_callback
            app.include_router(
                twilio_callback_router(
                    token,
                    store_recorder(daemon.db),
                    callback_url=callback_url,
                    path=(urlsplit(callback_url).path if callback_url else "") or DEFAULT_PATH,
                )
            )
        return app
