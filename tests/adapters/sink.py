"""A real SMTP server on loopback (aiosmtpd) that records what arrives, for delivery tests.

It can also be told to answer the next DATA commands with given replies (a 451, Gmail's
550 5.4.5...) or to drop the connection after reading the data, so provider faults are
exercised over a real socket."""
from __future__ import annotations

import socket
import threading
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        return message_from_bytes(self.data, policy=policy.default)  # type: ignore[return-value]


@dataclass
class SinkHandler:
    received: list[Received] = field(default_factory=list)
    replies: list[str] = field(default_factory=list)  # next DATA answers; "drop" closes the socket
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            reply = self.replies.pop(0) if self.replies else None
        if reply == "drop":
            server.transport.close()  # after reading the data, before answering: "maybe accepted"
            with self.lock:
                self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
            return "250 OK"
        if reply:
            return reply
        with self.lock:
            self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        return "250 OK"


# The one account the sink's SMTP AUTH accepts (plain text over loopback, for tests only).
AUTH_USER, AUTH_PASSWORD = "ann@sales.example", "imap-secret"


def _authenticator(server, session, envelope, mechanism, auth_data):
    ok = (isinstance(auth_data, LoginPassword) and auth_data.login.decode() == AUTH_USER
          and auth_data.password.decode() == AUTH_PASSWORD)
    if ok:
        session.stepline_login = auth_data.login.decode()
    return AuthResult(success=ok, handled=False)


class Sink:
    def __init__(self) -> None:
        self.handler = SinkHandler()
        self.port = free_port()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port,
                                     authenticator=_authenticator, auth_require_tls=False,
                                     auth_exclude_mechanism=["LOGIN"])

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    def fail_next(self, *replies: str) -> None:
        self.handler.replies.extend(replies)


@pytest.fixture
def smtp_sink():
    sink = Sink()
    sink.controller.start()
    yield sink
    sink.controller.stop()
