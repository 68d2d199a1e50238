"""`make install` / `make uninstall` into a staging root (DESTDIR), as a packager would.

The virtualenv is real (built from this checkout); PIP_FLAGS=--no-deps keeps the test from
downloading every dependency again, so the installed package is checked by its files, not run.
systemctl is not called with DESTDIR; the user is created in the staging root's /etc/passwd.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def make(target: str, destdir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            "make",
            "-s",
            "-C",
            str(ROOT),
            target,
            f"DESTDIR={destdir}",
            f"PYTHON={sys.executable}",
            "PIP_FLAGS=--no-deps",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.timeout(600)
def test_install_upgrade_and_uninstall_into_a_staging_root(tmp_path: Path) -> None:
    if shutil.which("make") is None:
        pytest.fail("make is needed (apt-get install make)")
    if os.geteuid() != 0:
        pytest.skip("make install sets file owners (root:slawatch): run as root, as CI does")
    dest = tmp_path / "root"
    result = make("install", dest)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "not calling systemctl" in result.stdout

    venv = dest / "opt" / "slawatch"
    assert (venv / "bin" / "slawatch").is_file()
    [site] = list((venv / "lib").glob("python3.*/site-packages"))
    package = site / "slawatch"
    for module in (
        "obs/logging.py",
        "obs/metrics.py",
        "runtime/sdnotify.py",
        "runtime/pidlock.py",
        "cli/db_backup.py",
    ):
        assert (package / module).is_file(), module
    assert list((package / "store" / "migrations" / "versions").glob("0001_*.py"))

    passwd = (dest / "etc" / "passwd").read_text()
    assert re.search(r"^slawatch:x:\d+:\d+:", passwd, re.M)
    unit = (dest / "etc" / "systemd" / "system" / "slawatch.service").read_text()
    assert unit == (ROOT / "systemd" / "slawatch.service").read_text()  # default PREFIX
    assert (dest / "etc" / "sysusers.d" / "slawatch.conf").is_file()
    assert (dest / "etc" / "tmpfiles.d" / "slawatch.conf").is_file()

    config = dest / "etc" / "slawatch" / "slawatch.toml"
    assert config.stat().st_mode & 0o777 == 0o640
    text = config.read_text()
    assert '"credential:api-token"' in text and "env:SLAWATCH_API_TOKEN" not in text
    assert 'url = "sqlite:////var/lib/slawatch/slawatch.db"' in text
    token = dest / "etc" / "credstore" / "slawatch.api-token"
    assert token.stat().st_mode & 0o077 == 0 and len(token.read_text().strip()) >= 32

    # The installed unit verifies against the installed binary (DESTDIR prefixed).
    installed_unit = tmp_path / "slawatch.service"
    installed_unit.write_text(unit.replace("/opt/slawatch/", f"{venv}/"))
    verify = subprocess.run(
        ["systemd-analyze", "verify", str(installed_unit)], capture_output=True, text=True
    )
    assert verify.returncode == 0 and verify.stderr == "", verify.stderr

    # An upgrade keeps the operator's config and token.
    config.write_text(text + "\n# edited by the operator\n")
    first_token = token.read_text()
    result = make("install", dest)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "keeping the existing" in result.stdout
    assert config.read_text().endswith("# edited by the operator\n")
    assert token.read_text() == first_token

    result = make("uninstall", dest)
    assert result.returncode == 0, result.stdout + result.stderr
    assert not venv.exists()
    assert not (dest / "etc" / "systemd" / "system" / "slawatch.service").exists()
    assert config.exists() and token.exists()  # configuration and secrets stay
