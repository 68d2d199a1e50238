"""The ``slawatch`` entry point; command families register themselves here."""

from __future__ import annotations

import click

from slawatch import __version__
from slawatch.cli import (
    accounts,
    api,
    check,
    db,
    entitlements,
    incidents,
    meetings,
    notify,
    oncall,
    outbox,
    run,
    simulate,
    templates,
    workshops,
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="slawatch")
def cli() -> None:
    """slawatch: SLA escalation daemon for tiered support plans."""


for module in (check, simulate, meetings, workshops, entitlements, oncall):
    module.register(cli)
for module in (accounts, incidents, db, api):
    module.register(cli)
for module in (run, outbox):
    module.register(cli)
for module in (notify, templates):
    module.register(cli)


def main() -> None:
    cli(prog_name="slawatch")
