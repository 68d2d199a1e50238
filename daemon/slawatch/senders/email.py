"""Email delivery with the standard library's ``smtplib``.

Connection: ``[email] security`` is ``starttls`` (plain connect, then ``STARTTLS``, usually port
587), ``tls`` (implicit TLS, "SMTPS", usually port 465) or ``none``; ``AUTH`` is used when a
username and password are configured. One connection per message: escalation mail is a trickle,
and a fresh connection makes every failure belong to exactly one message.

The message is ``multipart/alternative`` (text, then HTML when the template produced it) with
``Message-ID``, ``Date`` and ``Auto-Submitted: auto-generated`` (so out-of-office robots do not
answer). The ``Message-ID`` is derived from the outbox dedupe key, so a message re-sent after a
crash has the same id and mail clients show it once. Threading: the first mail about an incident
to an address returns its ``Message-ID`` as the thread reference; later mails carry it in
``In-Reply-To`` and ``References``, so a mail client shows them as one conversation.

Failures: SMTP replies are classified per recipient by their code, 4xx temporary and 5xx
permanent; connection refused, DNS failures, timeouts and dropped connections are temporary.
A server that cannot do STARTTLS or AUTH, or whose certificate is not trusted, is a permanent
(configuration) failure. Passwords never appear in errors or logs.
"""

from __future__ import annotations

import hashlib
import smtplib
import ssl
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr

import structlog

from slawatch.config.schema import EmailConfig
from slawatch.config.secrets import Secret, resolve_secret
from slawatch.errors import DeliveryError, PermanentDeliveryError, TemporaryDeliveryError
from slawatch.senders.base import RenderedMessage, SendResult

log = structlog.get_logger("slawatch.senders.email")


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _text(value: bytes | str) -> str:
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return " ".join(text.split())[:200]


def _cte(text: str) -> str:
    """``7bit`` for short ASCII lines, else ``quoted-printable`` (safe through any relay)."""
    if text.isascii() and all(len(line) < 990 for line in text.splitlines()):
        return "7bit"
    return "quoted-printable"


def by_code(code: int, what: str, detail: bytes | str = b"") -> DeliveryError:
    """4xx -> temporary, anything else (5xx) -> permanent; ``code`` is ``smtp_<code>``."""
    reason = f"{what}: {code} {_text(detail)}".rstrip()
    if 400 <= code < 500:
        return TemporaryDeliveryError(reason, code=f"smtp_{code}")
    return PermanentDeliveryError(reason, code=f"smtp_{code}")


class SmtpEmailSender:
    """Sends multipart text+HTML mail over SMTP."""

    channels = frozenset({"email"})

    def __init__(
        self,
        host: str,
        port: int,
        *,
        from_: str,
        security: str = "starttls",
        username: str | None = None,
        password: Secret | None = None,
        timeout: timedelta = timedelta(seconds=30),
        ssl_context: ssl.SSLContext | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        if security not in {"starttls", "tls", "none"}:
            raise ValueError(f"unknown security {security!r}")
        self.host = host
        self.port = port
        self.security = security
        self.from_ = from_
        self._username = username
        self._password = password
        self._timeout_s = timeout.total_seconds()
        self._ssl = ssl_context
        self._clock = clock
        self.envelope_from = parseaddr(from_)[1] or from_
        self.domain = self.envelope_from.rpartition("@")[2] or "slawatch.invalid"

    @classmethod
    def from_config(
        cls,
        config: EmailConfig,
        *,
        ssl_context: ssl.SSLContext | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> SmtpEmailSender:
        """Build from ``[email]``, resolving the password reference when there is one."""
        return cls(
            config.host,
            config.port,
            from_=config.from_,
            security=config.security,
            username=config.username,
            password=resolve_secret(config.password, environ) if config.password else None,
            timeout=config.timeout,
            ssl_context=ssl_context,
        )

    # ------------------------------------------------------------------------ the message
    def message_id(self, message: RenderedMessage) -> str:
        """Stable for one outbox row (from its dedupe key), unique otherwise."""
        if message.dedupe_key:
            digest = hashlib.sha256(message.dedupe_key.encode()).hexdigest()[:32]
            return f"<{digest}.slawatch@{self.domain}>"
        return make_msgid("slawatch", domain=self.domain)

    def build(self, message: RenderedMessage, address: str, thread_ref: str | None) -> EmailMessage:
        mail = EmailMessage()
        try:
            mail["From"] = self.from_
            mail["To"] = address
            mail["Subject"] = message.subject or f"[slawatch] {message.stage}"
            mail["Date"] = format_datetime(self._clock().astimezone(UTC))
            mail["Message-ID"] = self.message_id(message)
            if thread_ref:
                mail["In-Reply-To"] = thread_ref
                mail["References"] = thread_ref
            mail["Auto-Submitted"] = "auto-generated"
            mail["X-Slawatch-Stage"] = message.stage
            if message.incident_id:
                mail["X-Slawatch-Incident"] = message.incident_id
        except (ValueError, TypeError) as exc:
            raise PermanentDeliveryError(
                f"cannot build a mail to {address!r}: {exc}", code="invalid_address"
            ) from None
        # Quoted-printable for non-ASCII parts: 8bit bodies need the server's 8BITMIME, and a
        # 7-bit relay on the way would corrupt them.
        mail.set_content(message.text, cte=_cte(message.text))
        if message.html:
            mail.add_alternative(message.html, subtype="html", cte=_cte(message.html))
        return mail

    # ---------------------------------------------------------------------------- sending
    def _context(self) -> ssl.SSLContext:
        """The TLS context, made once: loading the system CA store takes ~0.1 s."""
        if self._ssl is None:
            self._ssl = ssl.create_default_context()
        return self._ssl

    def _connect(self) -> smtplib.SMTP:
        client: smtplib.SMTP
        if self.security == "tls":
            client = smtplib.SMTP_SSL(
                self.host, self.port, timeout=self._timeout_s, context=self._context()
            )
        else:
            client = smtplib.SMTP(self.host, self.port, timeout=self._timeout_s)
        try:
            client.ehlo()
            if self.security == "starttls":
                client.starttls(context=self._context())
                client.ehlo()
            if self._username and self._password is not None:
                client.login(self._username, self._password.get())
        except BaseException:
            client.close()
            raise
        return client

    def _deliver(self, mail: EmailMessage, address: str) -> None:
        where = f"{self.host}:{self.port}"
        try:
            client = self._connect()
        except smtplib.SMTPAuthenticationError as exc:
            if 400 <= exc.smtp_code < 500:
                raise by_code(exc.smtp_code, f"SMTP AUTH at {where}", exc.smtp_error) from None
            raise PermanentDeliveryError(
                f"SMTP AUTH refused at {where} for user {self._username!r}: {exc.smtp_code}; "
                "check [email] username and password",
                code=f"smtp_{exc.smtp_code}",
            ) from None
        except smtplib.SMTPNotSupportedError as exc:
            raise PermanentDeliveryError(
                f"SMTP server {where} does not support what [email] security/username ask for: "
                f"{exc}",
                code="smtp_unsupported",
            ) from None
        except ssl.SSLCertVerificationError as exc:
            raise PermanentDeliveryError(
                f"TLS certificate of {where} is not trusted: {exc.verify_message}",
                code="tls_certificate",
            ) from None
        try:
            with client:
                refused = client.send_message(
                    mail, from_addr=self.envelope_from, to_addrs=[address]
                )
        except smtplib.SMTPRecipientsRefused as exc:
            code, detail = exc.recipients.get(address, next(iter(exc.recipients.values())))
            raise by_code(code, f"{where} refused recipient {address}", detail) from None
        if refused:  # only possible with several recipients; kept for completeness
            code, detail = refused[address]
            raise by_code(code, f"{where} refused recipient {address}", detail)

    def send(self, message: RenderedMessage, address: str, *, thread_ref: str | None) -> SendResult:
        mail = self.build(message, address, thread_ref)
        where = f"{self.host}:{self.port}"
        try:
            self._deliver(mail, address)
        except DeliveryError:
            raise
        except smtplib.SMTPResponseException as exc:  # sender refused, DATA refused, HELO, ...
            raise by_code(exc.smtp_code, f"SMTP server {where}", exc.smtp_error) from None
        except smtplib.SMTPServerDisconnected as exc:
            # smtplib reports a read timeout as "Connection unexpectedly closed: timed out"
            timed_out = "timed out" in str(exc)
            raise TemporaryDeliveryError(
                f"SMTP server {where} {'timed out' if timed_out else 'closed the connection'}",
                code="timeout" if timed_out else "disconnected",
            ) from None
        except TimeoutError:
            raise TemporaryDeliveryError(f"SMTP server {where} timed out", code="timeout") from None
        except ConnectionRefusedError:
            raise TemporaryDeliveryError(
                f"SMTP server {where} refused the connection", code="connection"
            ) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise TemporaryDeliveryError(
                f"cannot talk to SMTP server {where}: {type(exc).__name__}: {exc}",
                code="connection",
            ) from None
        message_id = str(mail["Message-ID"])
        log.info(
            "email_sent",
            message_id=message_id,
            threaded=bool(thread_ref),
            stage=message.stage,
            incident=message.incident_id,
        )
        return SendResult(provider_message_id=message_id, thread_ref=thread_ref or message_id)


def sender_from_config(
    config: EmailConfig,
    *,
    password: Secret | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> SmtpEmailSender:
    """Build from ``[email]`` with an already resolved ``password`` (the wiring resolves
    secrets itself, e.g. from a given environment); see :meth:`SmtpEmailSender.from_config`."""
    return SmtpEmailSender(
        config.host,
        config.port,
        from_=config.from_,
        security=config.security,
        username=config.username,
        password=password,
        timeout=config.timeout,
        ssl_context=ssl_context,
    )
