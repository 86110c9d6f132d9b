"""A real SMTP server on 127.0.0.1 (aiosmtpd) that keeps every message it receives.

It runs in its own thread and event loop (aiosmtpd's Controller), on a free port picked
by the OS. Tests read what each customer actually got::

    with FakeSMTPServer() as smtp:
        ...  # point [email] smtp_host/smtp_port at smtp.host / smtp.port
        [message] = smtp.messages_to("ada@example.com")
        assert "order 1001" in body_text(message)

`reject("bob@example.com")` answers that recipient's RCPT with 550; `stop()` closes the
port (connection refused) and `start()` opens it again on the same port. With
`credentials=("user", "secret")` the server requires AUTH (without TLS, for tests).
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import threading
import time
import warnings
from email.message import EmailMessage
from typing import Any, Self

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

__all__ = ["FakeSMTPServer", "ReceivedMail", "body_text"]


class ReceivedMail:
    """One accepted message: the envelope and the parsed message."""

    def __init__(self, mail_from: str, rcpt_tos: list[str], message: EmailMessage) -> None:
        self.mail_from = mail_from
        self.rcpt_tos = rcpt_tos
        self.message = message

    def __getitem__(self, header: str) -> Any:
        return self.message[header]

    @property
    def text(self) -> str:
        return body_text(self.message)

    @property
    def html(self) -> str | None:
        part = self.message.get_body(preferencelist=("html",))
        return _unix(part.get_content()) if part is not None else None


def body_text(message: EmailMessage) -> str:
    """The plain-text body, with SMTP's CRLF line ends turned back into newlines."""
    part = message.get_body(preferencelist=("plain",))
    return _unix(part.get_content()) if part is not None else ""


def _unix(text: str) -> str:
    return text.replace("\r\n", "\n")


class _Handler:
    def __init__(self, server: FakeSMTPServer) -> None:
        self.server = server

    async def handle_RCPT(
        self, server: SMTPServer, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if address.lower() in self.server.rejected:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8")
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.server._received(
            ReceivedMail(str(envelope.mail_from), list(envelope.rcpt_tos), message)
        )
        if any(r.lower() in self.server.held for r in envelope.rcpt_tos):
            # Received, but the answer waits: a client killed now never learns it went out.
            self.server._waiting += 1
            while self.server.held:  # noqa: ASYNC110 - set from the test's thread
                await asyncio.sleep(0.01)
        return "250 Message accepted for delivery"


class _Controller(Controller):
    def factory(self) -> SMTPServer:
        with warnings.catch_warnings():
            # AUTH without TLS is what we want on loopback in tests; aiosmtpd warns about it.
            warnings.simplefilter("ignore", UserWarning)
            return super().factory()

    def _trigger_server(self) -> None:
        # Bound to port 0: learn the real port before aiosmtpd connects to check readiness.
        assert self.server is not None
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class FakeSMTPServer:
    host = "127.0.0.1"

    def __init__(self, credentials: tuple[str, str] | None = None) -> None:
        self.credentials = credentials
        self.rejected: set[str] = set()
        # Messages to these addresses are kept but not answered until `release()`.
        self.held: set[str] = set()
        self._waiting = 0
        self.logins: list[str] = []
        self.port = 0
        self._lock = threading.Lock()
        self._mails: list[ReceivedMail] = []
        self._controller: _Controller | None = None

    def start(self) -> Self:
        if self._controller is not None:
            return self
        auth: dict[str, Any] = {}
        if self.credentials is not None:
            auth = {
                "auth_required": True,
                "auth_require_tls": False,
                "authenticator": self._authenticate,
            }
        controller = _Controller(_Handler(self), hostname=self.host, port=self.port, **auth)
        controller.start()
        self.port = controller.port
        self._controller = controller
        return self

    def stop(self) -> None:
        """Close the port: clients now get "connection refused"."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reject(self, address: str) -> None:
        """Answer RCPT TO for `address` with 550 from now on."""
        self.rejected.add(address.lower())

    def accept(self, address: str) -> None:
        self.rejected.discard(address.lower())

    def hold_answer(self, address: str) -> None:
        """Keep messages to `address` but answer them only after `release()`."""
        self.held.add(address.lower())

    def wait_for_held(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while self._waiting == 0:
            if time.monotonic() > deadline:
                raise AssertionError(f"no held message within {timeout}s")
            time.sleep(0.01)

    def release(self) -> None:
        self.held.clear()

    @property
    def mails(self) -> list[ReceivedMail]:
        with self._lock:
            return list(self._mails)

    def messages_to(self, address: str) -> list[ReceivedMail]:
        """Messages whose envelope recipients include `address` (case-insensitive)."""
        return [m for m in self.mails if address.lower() in (r.lower() for r in m.rcpt_tos)]

    def _received(self, mail: ReceivedMail) -> None:
        with self._lock:
            self._mails.append(mail)

    def _authenticate(
        self, server: SMTPServer, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        if isinstance(data, LoginPassword) and self.credentials is not None:
            login = (data.login.decode(), data.password.decode())
            if login == self.credentials:
                self.logins.append(login[0])
                return AuthResult(success=True)
        return AuthResult(success=False, handled=False)
