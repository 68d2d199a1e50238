"""slawatch: an SLA escalation daemon for support teams that sell tiered support plans.

The stable public API for scripts and reports::

    from slawatch import load_config
    cal = load_config("slawatch.toml").calendars["sofia"]
    cal.elapsed(start, end)   # business time in [start, end)
    cal.add(start, delta)     # earliest t >= start with elapsed(start, t) == delta
"""

from slawatch.config.loader import Settings, load_config
from slawatch.core.calendar import BusinessCalendar
from slawatch.core.sla import ClockState, ClockStatus, evaluate

__version__ = "0.1.0"

__all__ = [
    "BusinessCalendar",
    "ClockState",
    "ClockStatus",
    "Settings",
    "__version__",
    "evaluate",
    "load_config",
]
