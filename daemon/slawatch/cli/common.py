"""What every CLI command shares: the ``--config`` option, error exits and time parsing.

Bad input exits with code 2 and a message on stderr that names the field; a bug still raises.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, NoReturn, TypeVar

import click

from slawatch.config.loader import Settings, load_config
from slawatch.errors import ConfigError, SlawatchError

F = TypeVar("F", bound=Callable[..., Any])

config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Config file (default: $SLAWATCH_CONFIG, /etc/slawatch/slawatch.toml, "
    "./config/slawatch.toml, else the embedded defaults).",
)


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``message`` on stderr and exit (2: bad input or configuration)."""
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def load_settings(config_path: str | None) -> Settings:
    try:
        return load_config(config_path)
    except ConfigError as exc:
        for line in exc.problems:
            click.echo(line, err=True)
        sys.exit(2)


def handle_errors(func: F) -> F:
    """Turn deliberate slawatch errors into exit code 2 with the message on stderr."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ConfigError as exc:
            for line in exc.problems:
                click.echo(line, err=True)
            sys.exit(2)
        except SlawatchError as exc:
            fail(str(exc))

    return wrapper  # type: ignore[return-value]


def parse_instant(value: str | None, field: str, *, default_now: bool = False) -> datetime:
    """Parse an ISO 8601 instant with an offset; ``None`` means now when allowed."""
    if value is None:
        if default_now:
            return datetime.now(UTC)
        fail(f"{field}: a timestamp is required")
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        fail(f"{field}: cannot parse {value!r}; use ISO 8601 like 2026-12-24T16:30+02:00")
    if parsed.tzinfo is None:
        fail(f"{field}: {value!r} has no time zone offset; add one like +02:00 or Z")
    return parsed


def echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=False, default=str))
