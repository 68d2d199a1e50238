"""The lazy command map names exactly what the command modules register."""

from __future__ import annotations

import importlib
import subprocess
import sys

import click

from slawatch.cli.main import COMMANDS


def test_every_command_loads_from_the_module_the_map_names() -> None:
    registered: dict[str, str] = {}
    for module_name in sorted(set(COMMANDS.values())):
        scratch = click.Group()
        importlib.import_module(f"slawatch.cli.{module_name}").register(scratch)
        for name in scratch.commands:
            registered[name] = module_name
    assert registered == COMMANDS


def test_help_lists_every_command_and_run_does_not_import_the_template_cli() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "slawatch", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for name in COMMANDS:
        assert name in out
    probe = (
        "import sys; from slawatch.cli.main import cli; "
        "cli.get_command(None, 'run'); "
        "print('slawatch.cli.templates' in sys.modules, 'slawatch.cli.meetings' in sys.modules)"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.split()
    assert loaded == ["False", "False"]
