"""schemathesis against ``/openapi.json`` of the real app on a real port, on each backend.

The run must end with no 5xx and no response that breaks the published schema (status codes,
content types, bodies). It is bounded (few examples per operation, one worker, a fixed seed)
so it stays well under two minutes; raise ``SLAWATCH_SCHEMATHESIS_EXAMPLES`` for a deeper run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from slawatch.api.app import create_app
from slawatch.config.loader import Settings
from slawatch.service.incidents import IncidentInput
from slawatch.service.intake import Intake
from slawatch.store.db import Database

from .conftest import ENVIRON, TOKEN, serve

CHECKS = ",".join(
    (
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
    )
)


def test_schemathesis_finds_no_5xx_and_no_schema_violations(
    db: Database, tmp_path: Path, sample_settings: Settings
) -> None:
    """On each backend: PostgreSQL is the stricter one (NUL bytes, column lengths)."""
    binary = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    if binary is None:
        pytest.fail("schemathesis is not installed (it is in the dev extra)")
    intake = Intake(db, sample_settings)
    intake.sync_config_accounts()
    intake.put_account("acme", {"name": "Acme", "plan": "enterprise"})
    intake.open_incident(IncidentInput("HD-1", "acme", "high", "Down"))
    app = create_app(db, sample_settings, intake=intake, environ=ENVIRON)
    server = serve(app)
    url = next(server)
    try:
        result = subprocess.run(
            [
                binary,
                "run",
                f"{url}/openapi.json",
                "--header",
                f"Authorization: Bearer {TOKEN}",
                "--checks",
                CHECKS,
                "--max-examples",
                os.environ.get("SLAWATCH_SCHEMATHESIS_EXAMPLES", "8"),
                "--seed",
                "1",
                "--workers",
                "1",  # Python 3.11's ast module is not thread-safe under hypothesis' lambdas
                "--generation-database",
                "none",
                "--no-color",
                "--request-timeout",
                "20",
            ],
            capture_output=True,
            text=True,
            timeout=240,
            cwd=tmp_path,
        )
    finally:
        server.close()
    tail = result.stdout[-6000:]
    assert result.returncode == 0, tail
    assert "passed" in tail
