"""``slawatch check-config``: validate the configuration and say what it holds."""

from __future__ import annotations

import click

from slawatch.cli.common import config_option
from slawatch.config.loader import find_config, load_config
from slawatch.config.secrets import resolve_embedded, resolve_secret
from slawatch.errors import ConfigError, SecretError


def secret_problems(settings_file: object, source: str) -> list[str]:
    """Every secret reference that cannot be resolved right now, as config problems."""
    from slawatch.config.schema import ConfigFile

    assert isinstance(settings_file, ConfigFile)
    refs: list[tuple[str, str]] = [
        (f"api.tokens[{i}]", t) for i, t in enumerate(settings_file.api.tokens)
    ]
    if settings_file.slack is not None:
        refs.append(("slack.token", settings_file.slack.token))
    if settings_file.sms is not None:
        refs.append(("sms.auth_token", settings_file.sms.auth_token))
    if settings_file.email is not None and settings_file.email.password is not None:
        refs.append(("email.password", settings_file.email.password))
    problems = []
    for key, ref in refs:
        try:
            resolve_secret(ref)
        except SecretError as exc:
            problems.append(f"{source}: {key}: {exc}")
    if settings_file.database.url:
        try:
            resolve_embedded(settings_file.database.url)
        except SecretError as exc:
            problems.append(f"{source}: database.url: {exc}")
    return problems


def register(cli: click.Group) -> None:
    @cli.command("check-config")
    @config_option
    def check_config(config_path: str | None) -> None:
        """Validate the configuration: print 'ok' and a summary, or every error (exit 2)."""
        try:
            settings = load_config(config_path)
        except ConfigError as exc:
            for line in exc.problems:
                click.echo(line, err=True)
            raise SystemExit(2) from None
        problems = secret_problems(settings.file, settings.source)
        if problems:
            for line in problems:
                click.echo(line, err=True)
            raise SystemExit(2)
        click.echo("ok")
        click.echo(settings.summary())
        for channel in ("slack", "sms", "email"):
            if getattr(settings.file, channel) is None:
                click.echo(
                    f"note: [{channel}] is not configured; {channel} notifications go to the "
                    "console and file senders"
                )
        if find_config(config_path) is None:
            click.echo("note: no config file found; using the embedded defaults")
        from slawatch.render.renderer import Renderer

        for line in Renderer(settings).check():
            # not fatal: a failing template sends the built-in fallback text instead
            click.echo(f"warning: {settings.source}: {line}")
