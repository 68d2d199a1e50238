"""CLI fixtures: a config file pointing at a fresh database on each backend."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from conftest import SAMPLE_CONFIG
from slawatch.cli.main import cli


@pytest.fixture
def cli_config(empty_db_url: str, tmp_path: Path) -> Path:
    path = tmp_path / "cli.toml"
    path.write_text(SAMPLE_CONFIG + f'\n[database]\nurl = "{empty_db_url}"\n', encoding="utf-8")
    return path


class Cli:
    """Runs ``slawatch`` in-process with ``--config`` appended."""

    def __init__(self, config: Path) -> None:
        self.config = config
        self.runner = CliRunner()

    def __call__(self, *args: str, code: int = 0) -> Result:
        result = self.runner.invoke(cli, [*args, "--config", str(self.config)])
        assert result.exit_code == code, (result.output, result.stderr, result.exception)
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "--json").stdout)


@pytest.fixture
def run(cli_config: Path) -> Cli:
    return Cli(cli_config)
