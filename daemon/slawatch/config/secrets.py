"""Secret references: how a secret is named in the config without being written there.

A secret value in ``slawatch.toml`` is always a reference:

* ``env:NAME``: the environment variable ``NAME``;
* ``credential:NAME``: the file ``$CREDENTIALS_DIRECTORY/NAME`` that systemd's ``LoadCredential=``
  provides;
* ``file:/path``: a file readable by the service.

Resolution happens at start; a missing secret is a :class:`~slawatch.errors.SecretError` naming
the reference, never a value. :class:`Secret` wraps a resolved value so that ``repr``/``str`` and
log lines show ``'**********'`` instead of the secret.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from slawatch.errors import SecretError

_REF = re.compile(r"^(env|credential|file):(.+)$")
_EMBEDDED = re.compile(r"\{((?:env|credential|file):[^{}]+)\}")


def is_secret_ref(text: str) -> bool:
    return bool(_REF.match(text.strip()))


def check_secret_ref(text: str) -> str:
    """Validate the *form* of a reference (used by the config schema)."""
    if not isinstance(text, str) or not is_secret_ref(text):
        raise ValueError(
            "must be a secret reference ('env:NAME', 'credential:NAME' or 'file:/path'); "
            "secrets never stand in the config file"
        )
    kind, _, name = text.strip().partition(":")
    if kind == "file" and not name.startswith("/"):
        raise ValueError("a 'file:' secret reference needs an absolute path")
    if kind == "credential" and "/" in name:
        raise ValueError("a 'credential:' name must not contain '/'")
    return text.strip()


class Secret:
    """A resolved secret; it never shows its value in ``repr``, ``str`` or f-strings."""

    __slots__ = ("_value", "reference")

    def __init__(self, value: str, reference: str) -> None:
        self._value = value
        self.reference = reference

    def get(self) -> str:
        """The secret itself: pass it to a client, never to a logger or a message."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret({self.reference!r})"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self.reference)


def resolve_secret(reference: str, environ: Mapping[str, str] | None = None) -> Secret:
    """Read the value a reference points at; raise ``SecretError`` naming the reference."""
    env = os.environ if environ is None else environ
    ref = check_secret_ref(reference)
    kind, _, name = ref.partition(":")
    if kind == "env":
        value = env.get(name)
        if value is None or value == "":
            raise SecretError(f"secret {ref}: environment variable {name} is not set")
        return Secret(value, ref)
    if kind == "credential":
        directory = env.get("CREDENTIALS_DIRECTORY")
        if not directory:
            raise SecretError(
                f"secret {ref}: $CREDENTIALS_DIRECTORY is not set (is the unit missing "
                f"LoadCredential={name}:...?)"
            )
        path = Path(directory) / name
    else:
        path = Path(name)
    try:
        value = path.read_text(encoding="utf-8").rstrip("\r\n")
    except OSError as exc:
        raise SecretError(f"secret {ref}: cannot read {path} ({exc.strerror})") from None
    if not value:
        raise SecretError(f"secret {ref}: {path} is empty")
    return Secret(value, ref)


def embedded_refs(text: str) -> list[str]:
    """References written as ``{env:NAME}`` inside a larger string (e.g. a database URL)."""
    return _EMBEDDED.findall(text)


def resolve_embedded(text: str, environ: Mapping[str, str] | None = None) -> Secret:
    """Replace each ``{env:NAME}``-style reference in ``text`` with its value, as a Secret."""
    refs = embedded_refs(text)
    value = text
    for ref in refs:
        value = value.replace("{" + ref + "}", resolve_secret(ref, environ).get())
    return Secret(value, _EMBEDDED.sub(lambda m: "{" + m.group(1) + "}", text))
