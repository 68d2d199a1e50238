"""The import direction of ARCHITECTURE.md, checked on the source so a violation fails CI."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "daemon" / "slawatch"

# package -> slawatch subpackages it may import; None = unrestricted.
ALLOWED: dict[str, set[str] | None] = {
    "core": {"core", "errors"},
    "config": {"core", "errors", "config"},
    "store": {"core", "config", "errors", "store"},
    "service": {"core", "config", "store", "errors", "service"},
    "render": {"core", "config", "errors", "render"},
    "senders": {"core", "config", "errors", "render", "senders", "obs"},
    "obs": {"core", "config", "errors", "obs"},
    "api": {"core", "config", "store", "errors", "service", "api", "obs", "senders", "render"},
    "runtime": {
        "core",
        "config",
        "store",
        "errors",
        "service",
        "runtime",
        "obs",
        "senders",
        "render",
    },
    "cli": None,
    "wiring": None,
}
THIRD_PARTY_IN_CORE: set[str] = set()


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts)


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def _package_of(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0].removesuffix(".py") if len(rel.parts) > 1 else rel.stem


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_import_direction(path: Path) -> None:
    package = _package_of(path)
    allowed = ALLOWED.get(package)
    for name in _imports(path):
        parts = name.split(".")
        if parts[0] == "slawatch" and len(parts) > 1:
            target = parts[1]
            assert target != "cli" or package in {"cli", "__main__"}, f"{path}: imports {name}"
            if allowed is not None:
                assert target in allowed, f"{path} ({package}) may not import {name}"
        elif package == "core" and parts[0] not in sys.stdlib_module_names:
            assert parts[0] in THIRD_PARTY_IN_CORE, f"{path}: core must stay pure, imports {name}"


def test_core_reads_no_clock() -> None:
    """The core takes `now` as an argument: no datetime.now(), time.time() or date.today()."""
    for path in (PACKAGE / "core").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for forbidden in ("datetime.now(", ".today(", "time.time(", "time.monotonic(", "utcnow("):
            assert forbidden not in text, f"{path} reads the clock via {forbidden}"
