"""Calendars import only the ``holidays`` country modules they name, and lose nothing by it.

``holidays.countries``' ``__init__`` imports all ~250 country modules; the loader defers it
(``config.loader._defer_country_modules``) so that ``slawatch run`` on the example config pays
for Bulgaria and the United States only. Checked in a fresh interpreter, since this test
process may have imported the whole package already.
"""

from __future__ import annotations

import json
import subprocess
import sys

SCRIPT = """
import json, sys
from datetime import date, timedelta
from slawatch.config.loader import holiday_checker

checkers = {
    "BG": holiday_checker("BG"),
    "US-NY": holiday_checker("US", "NY"),
    "US-NY-gov": holiday_checker("US", "NY", ("public", "government")),
}
loaded_before = sorted(m for m in sys.modules if m.startswith("holidays.countries."))
days = [date(2020, 1, 1) + timedelta(days=n) for n in range(365 * 11)]
ours = {name: [d.isoformat() for d in days if check(d)] for name, check in checkers.items()}

import holidays
import holidays.countries

reference = {
    "BG": holidays.country_holidays("BG"),
    "US-NY": holidays.country_holidays("US", subdiv="NY"),
    "US-NY-gov": holidays.country_holidays("US", subdiv="NY", categories=("public", "government")),
}
theirs = {name: [d.isoformat() for d in days if d in table] for name, table in reference.items()}
print(json.dumps({
    "loaded_before": loaded_before,
    "same": ours == theirs,
    "counts": {name: len(v) for name, v in ours.items()},
    "germany": holidays.countries.Germany.__name__,
    "de_unity_day": holidays.country_holidays("DE").get(date(2026, 10, 3)),
    "all_loaded": sum(m.startswith("holidays.countries.") for m in sys.modules),
}))
"""


def test_only_named_countries_load_and_results_are_the_packages() -> None:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    result = json.loads(out)
    assert result["loaded_before"] == [
        "holidays.countries.bulgaria",
        "holidays.countries.united_states",
    ]
    assert result["same"] is True
    assert all(count > 50 for count in result["counts"].values())
    # The deferred package still offers every country once something asks for one.
    assert result["germany"] == "Germany"
    assert result["de_unity_day"] == "German Unity Day"
    assert result["all_loaded"] > 200
