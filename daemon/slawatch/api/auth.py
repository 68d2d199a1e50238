"""Bearer tokens for ``/api/``: ``Authorization: Bearer <token>``, compared in constant time.

Tokens come from ``[api] tokens``, a list of secret references resolved when first needed (and
again when the configured references change on a reload). A missing, malformed or wrong token
is a 401 with a JSON body; no token configured means every ``/api/`` request is refused.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable

from fastapi import HTTPException, Request

from slawatch.config.secrets import Secret, resolve_secret
from slawatch.errors import SecretError


class TokenCheck:
    """A FastAPI dependency; ``refs()`` returns the configured references in force."""

    def __init__(
        self,
        refs: Callable[[], tuple[str, ...]],
        resolve: Callable[[str], Secret] = resolve_secret,
    ) -> None:
        self._refs = refs
        self._resolve = resolve
        self._cache: tuple[tuple[str, ...], list[bytes]] | None = None

    def tokens(self) -> list[bytes]:
        refs = tuple(self._refs())
        if self._cache is None or self._cache[0] != refs:
            self._cache = (refs, [self._resolve(r).get().encode() for r in refs])
        return self._cache[1]

    def __call__(self, request: Request) -> None:
        header = request.headers.get("authorization")
        if not header:
            raise _unauthorized("missing 'Authorization: Bearer <token>' header")
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            raise _unauthorized("expected 'Authorization: Bearer <token>'")
        candidate = given.strip().encode("utf-8", "surrogateescape")
        try:
            tokens = self.tokens()
        except SecretError:  # e.g. the variable vanished: refuse, and never say more
            raise _unauthorized("no usable API token is configured") from None
        matched = False
        for token in tokens:
            # Check every token (no early exit) so timing does not tell which one was close.
            matched |= hmac.compare_digest(candidate, token)
        if not matched:
            raise _unauthorized("invalid token")


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(status_code=401, detail=message, headers={"WWW-Authenticate": "Bearer"})
