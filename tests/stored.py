"""Reading back what the code under test stored, outside its sessions."""

from __future__ import annotations

from slawatch.store.db import Database
from slawatch.store.models import Incident


def stored_incident(db: Database, incident_id: int) -> Incident:
    """The incident row as committed now, detached (its columns only; no relationships)."""
    with db.read_session() as session:
        incident = session.get(Incident, incident_id)
        assert incident is not None
        session.expunge(incident)
    return incident
