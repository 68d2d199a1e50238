"""A real SMTP server (aiosmtpd) on 127.0.0.1, plain, STARTTLS or implicit TLS, with or without
AUTH, that records every accepted message and can refuse recipients (451, 550) or stall.

``FakeSmtp(security="starttls", auth=("alerts", "pw"), tmp_dir=path)`` starts it; the
self-signed certificate (``openssl``, CN localhost, SAN 127.0.0.1) is written to ``tmp_dir`` and
:meth:`FakeSmtp.client_context` returns an ``ssl.SSLContext`` that trusts it.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import ssl
import subprocess
import threading
import warnings
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def make_cert(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost/127.0.0.1, valid for a day."""
    cert, key = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    if not cert.exists():
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
             "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
             "-keyout", str(key), "-out", str(cert)],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
    return cert, key


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    authenticated_as: str | None
    tls: bool

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class _Handler:
    owner: FakeSmtp
    rcpt_replies: dict[str, str] = field(default_factory=dict)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        reply = self.owner.rcpt_replies.get(address.lower())
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.owner.data_delay_s:
            await asyncio.sleep(self.owner.data_delay_s)
        if self.owner.data_reply:
            return self.owner.data_reply
        login = session.auth_data
        transport = getattr(server, "transport", None)
        over_tls = session.ssl is not None or (
            transport is not None and transport.get_extra_info("ssl_object") is not None
        )
        self.owner.received.append(
            Received(
                envelope.mail_from,
                list(envelope.rcpt_tos),
                bytes(envelope.original_content or envelope.content),
                login.decode() if isinstance(login, bytes) else login,
                over_tls,
            )
        )
        return "250 Message accepted for delivery"


class _Controller(Controller):
    """aiosmtpd's Controller, bound to port 0: learn the real port before the self-check."""

    def factory(self) -> Any:
        # Implicit TLS + AUTH: aiosmtpd cannot tell the connection is already encrypted and
        # warns that AUTH does not require TLS; it does here.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return super().factory()

    def _trigger_server(self) -> None:
        assert self.server is not None
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class FakeSmtp:
    def __init__(
        self,
        *,
        security: str = "none",
        auth: tuple[str, str] | None = None,
        tmp_dir: Path | None = None,
    ) -> None:
        self.security = security
        self.auth = auth
        self.received: list[Received] = []
        self.rcpt_replies: dict[str, str] = {}
        self.data_reply: str | None = None
        self.data_delay_s = 0.0
        self.auth_attempts: list[tuple[str, bool]] = []
        self._lock = threading.Lock()
        self.cert: Path | None = None
        server_ctx = None
        if security in {"starttls", "tls"}:
            assert tmp_dir is not None, "TLS needs tmp_dir for the certificate"
            self.cert, key = make_cert(tmp_dir)
            server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            server_ctx.load_cert_chain(self.cert, key)
        params: dict[str, Any] = {}
        if security == "starttls":
            params.update(tls_context=server_ctx, require_starttls=True)
        if auth is not None:
            params.update(
                authenticator=self._authenticate,
                auth_required=True,
                # aiosmtpd only counts STARTTLS as TLS; implicit TLS is encrypted from the start
                auth_require_tls=security == "starttls",
            )
        self._controller = _Controller(
            _Handler(self),
            hostname="127.0.0.1",
            port=0,
            ssl_context=server_ctx if security == "tls" else None,
            server_hostname="localhost",
            **params,
        )

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if not isinstance(auth_data, LoginPassword) or self.auth is None:
            return AuthResult(success=False, handled=False)
        login, password = auth_data.login.decode(), auth_data.password.decode()
        ok = (login, password) == self.auth
        self.auth_attempts.append((login, ok))
        return AuthResult(success=ok, handled=False, auth_data=login if ok else None)

    @property
    def port(self) -> int:
        return int(self._controller.port)

    def client_context(self) -> ssl.SSLContext:
        """A client context trusting this server's self-signed certificate."""
        assert self.cert is not None
        return ssl.create_default_context(cafile=str(self.cert))

    def refuse(self, address: str, reply: str) -> None:
        """Answer ``RCPT TO:<address>`` with ``reply`` (e.g. ``"451 4.3.0 try later"``)."""
        self.rcpt_replies[address.lower()] = reply

    def start(self) -> FakeSmtp:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> FakeSmtp:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
