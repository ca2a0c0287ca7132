"""The mail channel: SMTP through the standard library, off the event loop.

AFTERCARE_SMTP_URL names the server: smtp://host:port (plain), smtps://host:port (TLS from the
start) or smtp+starttls://host:port (upgraded), with an optional user:password@. A refusal the
server means (5xx) is a permanent DeliveryError; anything else may pass, so it is not.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Literal
from urllib.parse import unquote, urlsplit

import msgspec

from aftercare.notifications import DeliveryError, OutgoingMail
from aftercare.settings import SettingsError

SmtpSecurity = Literal["plain", "tls", "starttls"]
_SCHEMES: dict[str, tuple[SmtpSecurity, int]] = {
    "smtp": ("plain", 25),
    "smtps": ("tls", 465),
    "smtp+starttls": ("starttls", 587),
}
# Seconds to wait on the server for each step; a hung server costs one attempt, not a worker.
SMTP_TIMEOUT_SECONDS = 30.0


class SmtpServer(msgspec.Struct, frozen=True, kw_only=True):
    host: str
    port: int
    security: SmtpSecurity
    user: str = ""
    password: str = ""


def smtp_server(url: str) -> SmtpServer:
    """The server an AFTERCARE_SMTP_URL names; SettingsError when it names none."""
    parts = urlsplit(url)
    if parts.scheme not in _SCHEMES or not parts.hostname:
        raise SettingsError(
            "AFTERCARE_SMTP_URL must look like smtp://host:port, smtps://host:port or "
            f"smtp+starttls://host:port, with an optional user:password@ (got {parts.scheme}://…)"
        )
    security, default_port = _SCHEMES[parts.scheme]
    try:
        port = parts.port or default_port
    except ValueError as error:
        raise SettingsError(f"AFTERCARE_SMTP_URL: {error}") from None
    return SmtpServer(
        host=parts.hostname,
        port=port,
        security=security,
        user=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
    )


def mail_channel(smtp_url: str, from_address: str) -> SmtpMail | None:
    """The channel AFTERCARE_SMTP_URL names; None when it is empty (messages are only kept)."""
    return SmtpMail(smtp_server(smtp_url), from_address) if smtp_url else None


class SmtpMail:
    """A MailChannel that hands each message to one SMTP server."""

    def __init__(self, server: SmtpServer, from_address: str) -> None:
        if "@" not in parseaddr(from_address)[1]:
            raise SettingsError(f"AFTERCARE_MAIL_FROM is not an address: {from_address!r}")
        self.server = server
        self.from_address = from_address

    async def notify(self, mail: OutgoingMail) -> None:
        """Send `mail`; raise DeliveryError (permanent or not) when the server does not take it."""
        message = self._message(mail)
        try:
            await asyncio.to_thread(self._send, message)
        except smtplib.SMTPRecipientsRefused as error:
            codes = [code for code, _ in error.recipients.values()]
            raise DeliveryError(
                f"recipient refused: {_describe(error.recipients)}",
                permanent=all(code >= 500 for code in codes),
            ) from None
        except smtplib.SMTPResponseException as error:
            reason = error.smtp_error.decode(errors="replace") if error.smtp_error else ""
            raise DeliveryError(
                f"SMTP {error.smtp_code} {reason}".strip(), permanent=error.smtp_code >= 500
            ) from None
        except (smtplib.SMTPException, OSError) as error:
            where = f"{self.server.host}:{self.server.port}"
            raise DeliveryError(f"mail server {where}: {error!r}", permanent=False) from None

    def _message(self, mail: OutgoingMail) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.from_address
        message["To"] = mail.recipient
        message["Subject"] = mail.subject
        message["Date"] = format_datetime(mail.date)
        domain = parseaddr(self.from_address)[1].rpartition("@")[2]
        # The same id on every attempt, so a server that took it once can tell a repeat.
        message["Message-ID"] = f"<{mail.reference}@{domain}>"
        message.set_content(mail.text_body)
        if mail.html_body:
            message.add_alternative(mail.html_body, subtype="html")
        return message

    def _send(self, message: EmailMessage) -> None:
        server = self.server
        smtp: smtplib.SMTP
        if server.security == "tls":
            smtp = smtplib.SMTP_SSL(
                server.host,
                server.port,
                timeout=SMTP_TIMEOUT_SECONDS,
                context=ssl.create_default_context(),
            )
        else:
            smtp = smtplib.SMTP(server.host, server.port, timeout=SMTP_TIMEOUT_SECONDS)
        with smtp:
            if server.security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
            if server.user:
                smtp.login(server.user, server.password)
            smtp.send_message(message)


def _describe(recipients: dict[str, tuple[int, bytes]]) -> str:
    return "; ".join(
        f"{address}: {code} {reason.decode(errors='replace')}"
        for address, (code, reason) in recipients.items()
    )
