"""The cyclic garbage collector's thresholds for a long-running scan process.

Why: a scan allocates millions of short-lived containers (rows, tuples, dicts, datetimes) that
reference counting frees at once; almost none is part of a cycle. With CPython's default
thresholds (700, 10, 10) each burst of them still triggers collections: a full recompute of
100,000 incidents ran about 940 young, 85 middle and 5 full collections, and the full ones walk
every long-lived object (modules, configuration, calendar tables). That was 0.85-1.1 s of a
14-17 s recompute in one process (``bench/README.md``). Collecting the young generation every
10,000 net allocations instead brought it to one collection and about 0 s.

What a caller must know: this is process-wide. The daemon applies it once it is ready (start-up
runs with the collector off, see ``Daemon.start``) and each scan worker when it starts. Cyclic
garbage still goes, only later: at most ~10,000 young container objects wait for it.
"""

from __future__ import annotations

import gc

__all__ = ["THRESHOLDS", "tune"]

#: ``gc.set_threshold`` arguments for the daemon and its scan workers.
THRESHOLDS = (10_000, 10, 10)


def tune() -> None:
    """Set :data:`THRESHOLDS` (see the module docstring)."""
    gc.set_threshold(*THRESHOLDS)
