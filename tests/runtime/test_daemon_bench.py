"""The daemon benchmark's data set is what its table claims, and its workers run.

Not a timed test: the figures depend on the machine (see bench/README.md). What is checked is
what the figures rest on: exactly ``due`` incidents are due at the scan instant, the tick
evaluates exactly those, a second tick finds nothing, and the dispatcher sends what the tick
queued.
"""

from __future__ import annotations

import shutil
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _bench() -> Any:
    sys.path.insert(0, str(BENCH))
    try:
        import daemon_bench
    finally:
        sys.path.remove(str(BENCH))
    return daemon_bench


def test_generated_data_has_exactly_the_due_incidents_and_workers_run(tmp_path: Path) -> None:
    bench = _bench()
    template = tmp_path / "template.db"
    facts = bench.generate(template, 150, 40, seed=5)
    assert (facts["incidents"], facts["due"], facts["accounts"]) == (150, 40, 400)
    assert facts["events"] > 0 and facts["prime_enqueued"] > 0
    now = datetime.fromisoformat(facts["now"])

    tick_db = tmp_path / "tick.db"
    shutil.copyfile(template, tick_db)
    tick = bench.worker_tick(tick_db, now)
    assert (tick["due"], tick["evaluated"]) == (40, 40)
    settings, ctx = bench.load()
    assert bench._tick(bench.open_db(tick_db), settings, ctx, now) == (0, 0)

    full_db = tmp_path / "full.db"
    shutil.copyfile(template, full_db)
    assert bench.worker_full(full_db, now)["evaluated"] == 150

    dispatch_db = tmp_path / "dispatch.db"
    shutil.copyfile(template, dispatch_db)
    sent = bench.worker_dispatch(dispatch_db, now)
    assert sent["failed"] == 0 and sent["handled"] > 0
    # Rows held for the recipient's working hours stay pending: not every queued row is due.
    assert sent["handled"] == sent["sent"] <= sent["queued"] - bench.DISPATCH_WARMUP
