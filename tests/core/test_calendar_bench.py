"""The benchmark still runs, and on its pairs slawatch agrees with ``businesstimedelta``.

``businesstimedelta`` is an independent implementation of the same business-time rules, so
agreement on a few hundred random pairs (both directions of ``add``, DST weekends, BG holidays)
is a useful cross-check on top of the brute-force model. The speed figures are not asserted:
they depend on the machine (see bench/README.md).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


def test_bench_runs_and_agrees(capsys: pytest.CaptureFixture[str]) -> None:
    sys.path.insert(0, str(BENCH))
    try:
        import calendar_bench
    finally:
        sys.path.remove(str(BENCH))
    rows = calendar_bench.main(["--pairs", "300", "--repeat", "1", "--btd-budget", "0.3"])
    assert [(r["mix"], r["op"]) for r in rows] == [
        ("short", "elapsed"),
        ("short", "add"),
        ("long", "elapsed"),
        ("long", "add"),
    ]
    for row in rows:
        assert row["btd_pairs"] >= 1
        assert row["mismatches"] == 0, row
    out = capsys.readouterr().out
    assert "slawatch ops/s" in out and "businesstimedelta ops/s" in out
    assert "goal: >= 300,000 ops/s" in out
