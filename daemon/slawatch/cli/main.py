"""The ``slawatch`` entry point; command families register themselves here.

Commands are loaded lazily: ``slawatch run`` should not pay for importing the code of
``slawatch templates`` (Jinja2 environments, provider clients), and a daemon's start-up time
matters to systemd's readiness. Each module still exposes ``register(cli)``; :data:`COMMANDS`
maps a command name to the module that registers it (``tests/cli/test_main.py`` checks the map
against what the modules really register).
"""

from __future__ import annotations

import importlib

import click

from slawatch import __version__

#: command name -> module under slawatch.cli whose register() adds it.
COMMANDS: dict[str, str] = {
    "account": "accounts",
    "api": "api",
    "check-config": "check",
    "db": "db",
    "entitlement": "entitlements",
    "incident": "incidents",
    "meeting": "meetings",
    "notify": "notify",
    "oncall": "oncall",
    "outbox": "outbox",
    "run": "run",
    "simulate": "simulate",
    "templates": "templates",
    "workshop": "workshops",
}


class LazyGroup(click.Group):
    """A click group that imports a command's module only when that command is used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module_name = COMMANDS.get(cmd_name)
        if module_name is None:
            return None
        module = importlib.import_module(f"slawatch.cli.{module_name}")
        scratch = click.Group()
        module.register(scratch)
        return scratch.commands.get(cmd_name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="slawatch")
def cli() -> None:
    """slawatch: SLA escalation daemon for tiered support plans."""


def main() -> None:
    cli(prog_name="slawatch")
