"""Build the escalation policy's inputs from :class:`~slawatch.config.loader.Settings`.

The core cannot import the configuration, so the runtime, the CLI and the API call
:func:`policy_context` once per load (and again after a reload) and pass the result to
:func:`slawatch.core.policy.decide`.
"""

from __future__ import annotations

from datetime import timedelta

from slawatch.config.loader import ALWAYS_OPEN, Settings
from slawatch.core.policy import PolicyContext


def policy_context(settings: Settings, *, catch_up_grace: timedelta | None = None) -> PolicyContext:
    """The :class:`PolicyContext` for ``settings``.

    ``catch_up_grace`` defaults to the larger of 5 minutes and twice ``[daemon] scan_interval``,
    so that normal scanning never looks like downtime.
    """
    f = settings.file
    grace = catch_up_grace or max(timedelta(minutes=5), 2 * f.daemon.scan_interval)
    return PolicyContext(
        people=f.people,
        roles=f.roles,
        oncall=f.oncall,
        calendars=settings.calendars,
        default_calendar=settings.default_calendar,
        rules=f.escalation.rules,  # None: the built-in defaults; []: no rules
        hotline_ack_within=f.sla.hotline_ack_within,
        page_repeat=f.oncall.page_repeat,
        catch_up_grace=grace,
        always_open=settings.calendars[ALWAYS_OPEN],
    )
