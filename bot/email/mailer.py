"""Customer emails: Jinja2 templates a store can override, sent over SMTP with aiosmtplib.

Templates are looked up in `[email] templates_dir` first, then in `bot/email/templates`,
one file at a time, so a store may override only the subject or only the text. Each kind
of email (the notice, a date update, back in stock) has its own three templates:
`<kind>.subject.j2`, `<kind>.txt.j2` and `<kind>.html.j2` (autoescaped). Every email is
multipart: plain text and HTML.

Threading: each email gets a Message-ID chosen before sending (it is recorded first);
a follow-up names the customer's first notice in In-Reply-To and References.
"""

from __future__ import annotations

import re
import socket
import ssl
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid, parseaddr
from pathlib import Path
from typing import Any

import aiosmtplib
from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    StrictUndefined,
    TemplateError,
    TemplateNotFound,
    TemplateSyntaxError,
)

from bot.config import EmailSection
from bot.db.models import NoticeKind
from bot.db.types import utcnow

BUNDLED_TEMPLATES = Path(__file__).with_name("templates")
# The template names of each kind of email (NoticeKind values).
TEMPLATE_NAMES = {
    NoticeKind.NOTICE: "customer_notice",
    NoticeKind.DATE_UPDATE: "date_update",
    NoticeKind.BACK_IN_STOCK: "back_in_stock",
}
MAX_SUBJECT = 200
MAX_REASON = 300


class TemplateProblem(Exception):
    """A store's template cannot be rendered; the message says which file and why."""


class MailError(Exception):
    """One email was not sent. `unreachable`: the server cannot be used at all right now."""

    def __init__(self, reason: str, *, unreachable: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason[:MAX_REASON]
        self.unreachable = unreachable


@dataclass(frozen=True, slots=True)
class RenderedNotice:
    subject: str
    text: str
    html: str | None = None


def _autoescape(name: str | None) -> bool:
    return bool(name) and str(name).endswith(".html.j2")


class Mailer:
    def __init__(
        self, config: EmailSection, username: str | None = None, password: str | None = None
    ) -> None:
        self.config = config
        self.username = username
        self.password = password
        loaders = [FileSystemLoader(BUNDLED_TEMPLATES)]
        if config.templates_dir is not None:
            loaders.insert(0, FileSystemLoader(config.templates_dir))
        self._env = Environment(
            loader=ChoiceLoader(loaders),
            # A typo in a store's template must fail the preview, not email "None" to customers.
            undefined=StrictUndefined,
            autoescape=_autoescape,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )

    def check(self) -> None:
        """Raise TemplateProblem for a misconfigured templates_dir (a typo would silently
        fall back to our templates)."""
        folder = self.config.templates_dir
        if folder is not None and not folder.is_dir():
            raise TemplateProblem(f"[email] templates_dir {folder} is not a folder")

    def render(
        self, context: Mapping[str, Any], kind: NoticeKind = NoticeKind.NOTICE
    ) -> RenderedNotice:
        name = TEMPLATE_NAMES[kind]
        subject_template = f"{name}.subject.j2"
        subject = " ".join(self._render(subject_template, context).split())
        text = self._render(f"{name}.txt.j2", context).strip() + "\n"
        html = self._render(f"{name}.html.j2", context)
        if not subject:
            raise TemplateProblem(f"{subject_template} renders an empty subject")
        return RenderedNotice(subject=subject[:MAX_SUBJECT], text=text, html=html)

    def new_message_id(self) -> str:
        """A Message-ID on the sender's domain, chosen (and recorded) before sending."""
        _, sender_address = parseaddr(self.config.from_address)
        return make_msgid(domain=sender_address.rpartition("@")[2] or None)

    def _render(self, name: str, context: Mapping[str, Any]) -> str:
        try:
            return self._env.get_template(name).render(context)
        except TemplateSyntaxError as exc:
            raise TemplateProblem(f"{exc.name or name} line {exc.lineno}: {exc.message}") from exc
        except TemplateNotFound as exc:
            raise TemplateProblem(f"{name} not found") from exc
        except TemplateError as exc:
            raise TemplateProblem(f"{name}: {exc.message or exc}") from exc

    def build(
        self,
        notice: RenderedNotice,
        to_address: str,
        to_name: str = "",
        *,
        message_id: str | None = None,
        in_reply_to: str | None = None,
    ) -> EmailMessage:
        """The email; `in_reply_to`: the Message-ID of the customer's first notice."""
        sender_name, sender_address = parseaddr(self.config.from_address)
        message = EmailMessage()
        message["From"] = formataddr((sender_name or self.config.store_name, sender_address))
        message["To"] = formataddr((to_name, to_address))
        message["Subject"] = notice.subject
        message["Date"] = format_datetime(utcnow())
        message["Message-ID"] = message_id or self.new_message_id()
        if in_reply_to:
            message["In-Reply-To"] = in_reply_to
            message["References"] = in_reply_to
        if self.config.reply_to:
            message["Reply-To"] = self.config.reply_to
        message.set_content(notice.text)
        if notice.html is not None:
            message.add_alternative(notice.html, subtype="html")
        return message

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[MailConnection]:
        """One SMTP connection for a batch, opened on the first send and closed at the end."""
        connection = MailConnection(self)
        try:
            yield connection
        finally:
            await connection.close()

    def _client(self) -> aiosmtplib.SMTP:
        config = self.config
        return aiosmtplib.SMTP(
            hostname=config.smtp_host,
            port=config.smtp_port,
            use_tls=config.use_tls,
            # Implicit TLS already encrypts; STARTTLS on top of it is impossible.
            start_tls=config.starttls and not config.use_tls,
            timeout=config.timeout,
            username=self.username,
            password=self.password,
        )


class MailConnection:
    def __init__(self, mailer: Mailer) -> None:
        self.mailer = mailer
        self._smtp: aiosmtplib.SMTP | None = None

    async def send(self, message: EmailMessage) -> None:
        """Send one message; raise MailError with a short reason a person can act on."""
        if self._smtp is None or not self._smtp.is_connected:
            self._smtp = await self._connect()
        try:
            await self._smtp.send_message(message)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            refused = exc.recipients[0] if exc.recipients else None
            detail = f"{refused.code} {refused.message}" if refused else str(exc)
            raise MailError(f"refused by the mail server: {detail}") from None
        except aiosmtplib.SMTPServerDisconnected:
            self._smtp = None
            raise MailError("the mail server closed the connection while sending") from None
        except aiosmtplib.SMTPResponseException as exc:
            raise MailError(f"the mail server answered {exc.code} {exc.message}") from None
        except (aiosmtplib.SMTPException, OSError) as exc:
            self._smtp = None
            raise MailError(f"sending failed: {_describe(exc)}") from None

    async def _connect(self) -> aiosmtplib.SMTP:
        config = self.mailer.config
        where = f"{config.smtp_host}:{config.smtp_port}"
        smtp = self.mailer._client()
        try:
            await smtp.connect()
        except aiosmtplib.SMTPAuthenticationError as exc:
            smtp.close()
            raise MailError(
                f"the mail server {where} refused the login ({exc.code}): "
                "check SMTP_USERNAME and SMTP_PASSWORD",
                unreachable=True,
            ) from None
        except (aiosmtplib.SMTPException, OSError) as exc:
            smtp.close()
            raise MailError(
                f"cannot use the mail server {where}: {_describe(exc)}", unreachable=True
            ) from None
        return smtp

    async def close(self) -> None:
        if self._smtp is not None and self._smtp.is_connected:
            try:
                await self._smtp.quit()
            except (aiosmtplib.SMTPException, OSError):
                self._smtp.close()
        self._smtp = None


def _describe(exc: BaseException) -> str:
    """A short cause a person can act on, instead of a socket error's wording."""
    cause = exc.__cause__ or exc.__context__
    if isinstance(exc, aiosmtplib.SMTPTimeoutError | TimeoutError):
        return "timed out"
    if isinstance(cause, ConnectionRefusedError):
        return "connection refused (is the server running, and is smtp_port right?)"
    if isinstance(cause, socket.gaierror):
        return "host not found (check smtp_host)"
    if isinstance(cause, ssl.SSLError):
        return f"TLS failed ({cause.reason or cause}): check use_tls / starttls"
    text = str(exc) or type(exc).__name__
    errno_text = re.search(r"\[Errno -?\d+\] (.+)$", text)
    return (errno_text.group(1) if errno_text else text).strip()[:MAX_REASON]
