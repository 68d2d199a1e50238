"""``slawatch run --demo``: a demo account and incidents with short targets, so a newcomer sees
escalations within minutes instead of business days.

The demo account is a premium ("Custom SLA") account on the 24x7 calendar whose own SLA
overrides shrink the targets to minutes. Each start opens fresh incidents (new external ids),
so restarting the demo never conflicts with what is already stored.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from slawatch.errors import SlawatchError
from slawatch.obs.logging import get_logger
from slawatch.service.incidents import IncidentInput

log = get_logger("slawatch.demo")

DEMO_ACCOUNT = "demo"
DEMO_SLA = {
    "medium": {"response": "2m", "workaround": "6m", "resolution": "20m"},
    "low": {"response": "4m", "workaround": "-", "resolution": "-"},
}


def seed_demo(intake: Any, now: datetime) -> list[str]:
    """Create the demo account (if absent) and open three demo incidents; returns their ids."""
    settings = intake.settings
    people = settings.file.people
    csm = next(iter(people), None)
    data: dict[str, Any] = {
        "name": "Demo Customer (short SLA targets)",
        "plan": "premium",
        "calendar": "24x7",
        "sla": DEMO_SLA,
    }
    if csm is not None:
        data["csm"] = csm
    try:
        intake.put_account(DEMO_ACCOUNT, data)
    except SlawatchError as exc:
        log.warning("demo_account_not_created", error=str(exc))
        return []
    stamp = now.strftime("%Y%m%dT%H%M%S")
    incidents = [
        ("medium", False, "Reports page times out for the whole team"),
        ("low", False, "Export button misaligned on Firefox"),
        ("high", True, "Board is down for every user (hotline call)"),
    ]
    opened: list[str] = []
    for index, (priority, hotline, title) in enumerate(incidents, start=1):
        external_id = f"DEMO-{stamp}-{index}"
        intake.open_incident(
            IncidentInput(
                external_id=external_id,
                account=DEMO_ACCOUNT,
                priority=priority,
                title=title,
                opened_at=now,
                via_hotline=hotline,
            )
        )
        opened.append(external_id)
    log.info(
        "demo_seeded",
        account=DEMO_ACCOUNT,
        incidents=opened,
        detail="medium: 50% after 1m, breach after 2m; the hotline incident pages on-call now "
        "and every 5m until acknowledged (slawatch incident ack ID --by NAME)",
    )
    return opened
