"""The one root exception of slawatch and the families a caller can act on.

Every error raised on purpose by slawatch derives from :class:`SlawatchError`, so an outer layer
(the CLI, the API, the daemon's job runner) can tell "a user must fix something" from a bug with a
single ``except``. Messages name what to fix (the file, the key path, the field) and never carry a
secret's value.
"""

from __future__ import annotations


class SlawatchError(Exception):
    """Root of every error slawatch raises deliberately."""


class ConfigError(SlawatchError):
    """The configuration cannot be used.

    ``problems`` holds one line per problem, each naming the file and the key path, so
    ``check-config`` can print them all at once instead of stopping at the first.
    """

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class SecretError(ConfigError):
    """A secret reference cannot be resolved; the message names the reference, never a value."""


class ValidationError(SlawatchError):
    """Input (CLI argument, API body, import row) was rejected; nothing was changed.

    ``field`` names the offending field so the API can return it in a 4xx body and the CLI can
    print it on stderr.
    """

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


class NotFoundError(SlawatchError):
    """A referenced account, incident or notification does not exist."""

    def __init__(self, kind: str, key: str) -> None:
        self.kind = kind
        self.key = key
        super().__init__(f"{kind} {key!r} not found")


class ConflictError(SlawatchError):
    """The request contradicts what is already stored (e.g. same external id, other data)."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


class DeliveryError(SlawatchError):
    """A sender could not deliver a message.

    ``temporary`` tells the dispatcher whether to retry (with backoff, honouring
    ``retry_after_s`` when the provider named one) or to fail over to the next channel.
    """

    def __init__(
        self,
        reason: str,
        *,
        temporary: bool,
        retry_after_s: float | None = None,
        code: str | None = None,
    ) -> None:
        self.reason = reason
        self.temporary = temporary
        self.retry_after_s = retry_after_s
        self.code = code
        super().__init__(reason)


class TemporaryDeliveryError(DeliveryError):
    """Worth retrying later: rate limits, 5xx, timeouts, refused connections."""

    def __init__(
        self, reason: str, *, retry_after_s: float | None = None, code: str | None = None
    ) -> None:
        super().__init__(reason, temporary=True, retry_after_s=retry_after_s, code=code)


class PermanentDeliveryError(DeliveryError):
    """Retrying cannot help: bad credentials, unknown channel or number, rejected recipient."""

    def __init__(self, reason: str, *, code: str | None = None) -> None:
        super().__init__(reason, temporary=False, code=code)
