"""Daily reminders benchmark: ``run_daily_reminders`` over N accounts on a temporary SQLite.

Each account has a plan (business / enterprise / premium), five recorded meetings and five
workshops. The first run enqueues the backlog of reminders (a fresh install); the repeat run is
what every later day costs when nothing new is due (all decisions already in the outbox).
Wall time, best of ``--repeat`` for the repeat run.
Run: ``.venv/bin/python bench/reminders_bench.py [--accounts N] [--repeat R]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from slawatch.config.loader import build_settings
from slawatch.service.reminders import run_daily_reminders
from slawatch.store.db import Database
from slawatch.store.migrate import upgrade
from slawatch.store.models import Account, Meeting, PlanChange, Workshop

PLANS = ("business", "enterprise", "premium")


def seed(db: Database, n: int) -> None:
    created = datetime(2024, 1, 1, tzinfo=UTC)
    with db.session() as s:
        for i in range(n):
            s.add(
                Account(
                    id=f"a{i}",
                    name=f"Account {i}",
                    plan=PLANS[i % 3],
                    csm="maria" if i % 3 else None,
                    contract_start=date(2024, 1, 1) + timedelta(days=i % 365),
                    emails=[],
                    phones=[],
                    sla_overrides={},
                    active=True,
                    created_at=created,
                    updated_at=created,
                )
            )
        s.flush()
        for i in range(n):
            s.add(PlanChange(account_id=f"a{i}", plan=PLANS[i % 3], effective_at=created))
            for k in range(5):
                held = date(2024, 3, 1) + timedelta(days=90 * k + i % 30)
                s.add(Meeting(account_id=f"a{i}", held_on=held, recorded_at=created))
                held = date(2025, 3, 1) + timedelta(days=20 * k)
                s.add(Workshop(account_id=f"a{i}", held_on=held, recorded_at=created))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    settings = build_settings(
        {
            "people": {"maria": {"name": "Maria"}, "lead": {"name": "Lead"}},
            "roles": {"support_lead": "lead"},
        },
        None,
    )
    now = datetime(2026, 1, 15, 9, tzinfo=UTC)
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{Path(tmp) / 'bench.db'}")
        upgrade(db)
        seed(db, args.accounts)
        start = time.perf_counter()
        with db.session() as s:
            enqueued = run_daily_reminders(s, settings, now)
        first = time.perf_counter() - start
        repeats = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            with db.session() as s:
                again = run_daily_reminders(s, settings, now)
            repeats.append(time.perf_counter() - start)
            assert again == 0, "a repeated run must enqueue nothing"
        db.dispose()
    n = args.accounts
    print(f"accounts                      {n}")
    print(f"first run (backlog)           {first:.2f} s, {enqueued} reminders enqueued")
    best = min(repeats)
    print(f"repeat run (nothing new)      {best:.2f} s ({best / n * 1e3:.2f} ms/account)")


if __name__ == "__main__":
    main()
